"""Faults the fake servers cannot show by answering: a body that trickles in, a name
that does not resolve once, and a walk over Slack's Block Kit limits."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from bot.demo.standins import Handler

# Slack's documented limits (Block Kit reference; chat.postMessage), independent of the
# bot's own constants so that a wrong constant there is caught here.
SECTION_TEXT = 3000
SECTION_FIELD = 2000
CONTEXT_TEXT = 3000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
BLOCKS_PER_MESSAGE = 50
ELEMENTS_PER_ACTIONS = 25
MESSAGE_TEXT = 40000


def cf_trickle(body: bytes, every: float, release: asyncio.Event) -> Handler:
    """Send the headers at once, then `body` one byte every `every` seconds (a server
    that never lets a per-read timeout fire)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
        )
        await response.prepare(request)
        try:
            for byte in body:
                if release.is_set():
                    break
                await response.write(bytes([byte]))
                await asyncio.sleep(every)
        except ConnectionError:
            pass  # the client gave up, as it should
        return response

    return answer


class FlakyResolver:
    """socket.getaddrinfo for one host name: resolves it to 127.0.0.1, except that the
    next `fail` lookups raise socket.gaierror (a connect-phase failure: nothing sent)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, host: str) -> None:
        self.host = host
        self.fail = 0
        self.failed = 0
        real: Callable[..., Any] = socket.getaddrinfo

        def getaddrinfo(host: object, *args: Any, **kwargs: Any) -> Any:
            if host in (self.host, self.host.encode()):  # anyio passes it IDNA-encoded
                if self.fail > 0:
                    self.fail -= 1
                    self.failed += 1
                    raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
                host = "127.0.0.1"
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def block_kit_violations(message: dict[str, Any]) -> list[str]:
    """Every place where a message (as posted to Slack) exceeds Slack's limits."""
    problems: list[str] = []

    def over(where: str, text: object, limit: int) -> None:
        if isinstance(text, str) and len(text) > limit:
            problems.append(f"{where}: {len(text)} > {limit}")

    over("text", message.get("text"), MESSAGE_TEXT)
    blocks = message.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(blocks) > BLOCKS_PER_MESSAGE:
        problems.append(f"{len(blocks)} blocks > {BLOCKS_PER_MESSAGE}")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "section":
            over(f"blocks[{i}].text", (block.get("text") or {}).get("text"), SECTION_TEXT)
            for j, item in enumerate(block.get("fields") or []):
                over(f"blocks[{i}].fields[{j}]", item.get("text"), SECTION_FIELD)
            if "accessory" in block:
                problems += _element_violations(f"blocks[{i}].accessory", block["accessory"])
        elif kind == "context":
            for j, element in enumerate(block.get("elements") or []):
                over(f"blocks[{i}].elements[{j}]", element.get("text"), CONTEXT_TEXT)
        elif kind == "actions":
            elements = block.get("elements") or []
            if len(elements) > ELEMENTS_PER_ACTIONS:
                problems.append(f"blocks[{i}]: {len(elements)} elements")
            for j, element in enumerate(elements):
                problems += _element_violations(f"blocks[{i}].elements[{j}]", element)
    return problems


def _element_violations(where: str, element: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def over(what: str, text: object, limit: int) -> None:
        if isinstance(text, str) and len(text) > limit:
            problems.append(f"{where}.{what}: {len(text)} > {limit}")

    if element.get("type") == "button":
        over("text", (element.get("text") or {}).get("text"), BUTTON_TEXT)
        over("value", element.get("value"), BUTTON_VALUE)
    confirm = element.get("confirm")
    if isinstance(confirm, dict):
        over("confirm.title", (confirm.get("title") or {}).get("text"), CONFIRM_TITLE)
        over("confirm.text", (confirm.get("text") or {}).get("text"), CONFIRM_TEXT)
        over("confirm.confirm", (confirm.get("confirm") or {}).get("text"), CONFIRM_BUTTON)
        over("confirm.deny", (confirm.get("deny") or {}).get("text"), CONFIRM_BUTTON)
    return problems
