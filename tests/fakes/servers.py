"""Fake Slack and fake Cloudflare RealtimeKit servers on 127.0.0.1.

Each records what it received and lets a test wait for it with a timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    """One request a fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    data: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """A list of received requests that tests can wait on."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._changed = asyncio.Condition()

    async def record(self, item: Received) -> None:
        async with self._changed:
            self.received.append(item)
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 5.0
    ) -> list[Received]:
        """Wait until `predicate(received)` holds; fail the test after `timeout` s."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: predicate(self.received)), timeout
            )
            return list(self.received)


class FakeServer:
    """An aiohttp server on 127.0.0.1 with a random port."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=10 * 1024 * 1024)
        self.recorder = Recorder()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.release = asyncio.Event()  # set at teardown so hung handlers end

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _received(self, request: web.Request) -> Received:
        body = await request.read()
        data: dict[str, Any] = {}
        if body:
            if request.content_type == "application/json":
                data = json.loads(body)
            elif request.content_type == "application/x-www-form-urlencoded":
                data = dict(parse_qsl(body.decode()))
        data.update({k: v for k, v in request.query.items() if k not in data})
        item = Received(request.method, request.path, dict(request.headers), body, data)
        await self.recorder.record(item)
        return item


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


class FakeCloudflare(FakeServer):
    """RealtimeKit's stop endpoint: answers from a script, then success."""

    PREFIX = "/client/v4"

    def __init__(self) -> None:
        super().__init__()
        self.script: deque[Handler] = deque()
        self.default: Handler = cf_success()
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
        await self._received(request)
        answer = self.script.popleft() if self.script else self.default
        return await answer(request)


# ---------------------------------------------------------------------------- Slack


class FakeSlack(FakeServer):
    """Slack's Web API (/api/<method>), response_urls (/response/<id>) and a Socket
    Mode WebSocket (/socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.api_answers: dict[str, deque[Handler]] = {}
        self.response_answers: deque[Handler] = deque()
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_connected = asyncio.Event()
        self.app.router.add_post("/api/{method}", self._api)
        self.app.router.add_get("/api/{method}", self._api)
        self.app.router.add_post("/response/{id}", self._response)
        self.app.router.add_get("/socket", self._socket)

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "1") -> str:
        return f"{self.url}/response/{name}"

    def answer_api(self, method: str, *answers: Handler) -> None:
        self.api_answers.setdefault(method, deque()).extend(answers)

    def calls(self, method: str) -> list[Received]:
        return [r for r in self.recorder.received if r.path == f"/api/{method}"]

    def responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """Bodies posted to response_urls (optionally to one of them)."""
        prefix = "/response/" + (name or "")
        return [
            r.data
            for r in self.recorder.received
            if r.path.startswith(prefix) and (name is None or r.path == prefix)
        ]

    async def wait_responses(
        self, count: int, name: str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        await self.recorder.wait_for(lambda _: len(self.responses(name)) >= count, timeout)
        return self.responses(name)

    async def wait_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Received]:
        await self.recorder.wait_for(lambda _: len(self.calls(method)) >= count, timeout)
        return self.calls(method)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        item = await self._received(request)
        queue = self.api_answers.get(method)
        if queue:
            return await queue.popleft()(request)
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://acme.slack.com/",
                    "team": "Acme",
                    "user": "stopbot",
                    "team_id": "T0TEAM",
                    "user_id": "U0BOT",
                    "bot_id": "B0BOT",
                }
            )
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"})
        if method == "chat.postMessage":
            return web.json_response(
                {"ok": True, "channel": item.data.get("channel"), "ts": "1.000001"}
            )
        return web.json_response({"ok": True})

    async def _response(self, request: web.Request) -> web.StreamResponse:
        await self._received(request)
        if self.response_answers:
            return await self.response_answers.popleft()(request)
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.socket_connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await self.socket_messages.put(json.loads(message.data))
        return ws

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        await self.sockets[-1].send_json(envelope)


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
