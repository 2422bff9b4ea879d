"""Fake Slack and fake Cloudflare RealtimeKit servers on 127.0.0.1, built on the
package's stand-ins: Slack as it is, Cloudflare scripted answer by answer."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiohttp import web

from bot.demo.standins import Handler, LiveCatalog, Received, StandInServer, StandInSlack

FakeSlack = StandInSlack

__all__ = ["FakeCloudflare", "FakeSlack", "Handler", "Received"]


# ---------------------------------------------------------------------------- Cloudflare


def cf_json(status: int, document: Any, headers: dict[str, str] | None = None) -> Handler:
    """Answer with a JSON document."""

    async def answer(_: web.Request) -> web.StreamResponse:
        return web.json_response(document, status=status, headers=headers)

    return answer


def cf_raw(status: int, body: bytes, content_type: str = "text/html") -> Handler:
    """Answer with raw bytes."""

    async def answer(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type=content_type)

    return answer


def cf_success(message: str = "Stopped live stream successfully") -> Handler:
    """The API's success answer."""
    return cf_json(200, {"success": True, "data": {"message": message}})


def cf_live(meeting_id: str = "", name: str = "Keynote") -> Handler:
    """The active-livestream read of a meeting that is live."""
    data = {"id": "ls-1", "meeting_id": meeting_id, "name": name, "status": "LIVE"}
    return cf_json(200, {"success": True, "data": data})


def cf_dyte_error(status: int, message: str) -> Handler:
    """RealtimeKit's own error envelope."""
    return cf_json(status, {"success": False, "error": {"code": status, "message": message}})


def cf_v4_error(status: int, code: int, message: str) -> Handler:
    """Cloudflare's v4 envelope."""
    return cf_json(
        status,
        {
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
            "result": None,
        },
    )


class FakeCloudflare(StandInServer):
    """RealtimeKit's stop endpoint: answers from a script, then success. The list and
    meeting reads (`GET .../livestreams`, `GET .../meetings/{id}`) are served apart, from
    `catalog` (empty unless a test fills it), so that they never take a scripted answer
    meant for a stop."""

    PREFIX = "/client/v4"

    def __init__(self) -> None:
        super().__init__()
        self.script: deque[Handler] = deque()
        self.default: Handler = cf_success()
        self.catalog = LiveCatalog(self, self.PREFIX)  # before the catch-all: matched first
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def base_url(self) -> str:
        return self.url + self.PREFIX

    def then(self, *answers: Handler) -> None:
        """Answer the next requests with these, in order."""
        self.script.extend(answers)

    def hang(self) -> Handler:
        """Never answer (until teardown)."""

        async def answer(_: web.Request) -> web.StreamResponse:
            await self.release.wait()
            return web.Response(status=599)

        return answer

    def gated(self, gate: asyncio.Event, then: Handler | None = None) -> Handler:
        """Answer only once `gate` is set."""

        async def answer(request: web.Request) -> web.StreamResponse:
            await gate.wait()
            return await (then or self.default)(request)

        return answer

    @property
    def stop_calls(self) -> list[Received]:
        return [r for r in self.recorder.received if r.path.endswith("/active-livestream/stop")]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await self.received(request)
        answer = self.script.popleft() if self.script else self.default
        return await answer(request)


def cf_reset_mid_body() -> Handler:
    """Promise a body, send part of it, then drop the connection."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Content-Length": "4096"}
        )
        await response.prepare(request)
        await response.write(b'{"success": tr')
        assert request.transport is not None
        request.transport.close()
        return response

    return answer
