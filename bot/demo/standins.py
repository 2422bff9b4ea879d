"""The stand-in for Slack on 127.0.0.1, and the server and recorder that it and the
RealtimeKit stand-in (realtimekit.py) share. The demo runs the real bot against them;
the tests and benchmarks do too. Each records what it received and lets a caller wait
for it with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    """One request a stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)  # when it arrived


class Recorder:
    """A list of received requests that callers can wait on."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._changed = asyncio.Condition()

    async def record(self, item: Received) -> None:
        """Add `item` and wake the waiters."""
        async with self._changed:
            self.received.append(item)
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], within: float = 5.0
    ) -> list[Received]:
        """Wait until `predicate(received)` holds; TimeoutError after `within` s."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self.received)), within)
            return list(self.received)


# ---------------------------------------------------------- RealtimeKit's answers


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


def cf_dyte_error(status: int, message: str, headers: dict[str, str] | None = None) -> Handler:
    """RealtimeKit's own error envelope."""
    error = {"code": status, "message": message}
    return cf_json(status, {"success": False, "error": error}, headers)


def cf_v4_error(status: int, code: int, message: str) -> Handler:
    """Cloudflare's v4 envelope."""
    errors = [{"code": code, "message": message}]
    return cf_json(status, {"success": False, "errors": errors, "messages": [], "result": None})


def cf_reset_mid_body() -> Handler:
    """Promise a body, send part of it, then drop the connection."""

    async def answer(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Length": "4096"}
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        await response.write(b'{"success": tr')
        assert request.transport is not None
        request.transport.close()
        return response

    return answer


class StandInServer:
    """An aiohttp server on 127.0.0.1 with a random port."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=10 * 1024 * 1024)
        self.recorder = Recorder()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.release = asyncio.Event()  # set at close, so handlers that wait can end

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free port."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        address = self._runner.addresses[0]
        self.port = int(address[1])

    async def close(self) -> None:
        """Stop listening; end waiting handlers."""
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def received(self, request: web.Request) -> Received:
        """Record `request`, its body parsed as JSON or a form when it is one."""
        body = await request.read()
        data: dict[str, Any] = {}
        if body and request.content_type == "application/json":
            parsed = json.loads(body)
            data = parsed if isinstance(parsed, dict) else {"_": parsed}
        elif body and request.content_type == "application/x-www-form-urlencoded":
            data = dict(parse_qsl(body.decode()))
        data.update({k: v for k, v in request.query.items() if k not in data})
        item = Received(request.method, request.path, dict(request.headers), body, data)
        await self.recorder.record(item)
        return item


class StandInSlack(StandInServer):
    """Slack's Web API (/api/<method>), response_urls (/response/<name>) and a Socket
    Mode WebSocket (/socket). Answers can be scripted per method."""

    def __init__(self) -> None:
        super().__init__()
        self.api_answers: dict[str, deque[Handler]] = {}
        self.response_answers: deque[Handler] = deque()
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_connected = asyncio.Event()
        self.app.router.add_post("/api/{method}", self._api)
        self.app.router.add_get("/api/{method}", self._api)
        self.app.router.add_post("/response/{name}", self._response)
        self.app.router.add_get("/socket", self._socket)

    @property
    def api_url(self) -> str:
        """The Web API base URL, for SLACK_API_URL."""
        return self.url + "/api/"

    def response_url(self, name: str = "1") -> str:
        """A response_url whose posts are recorded under `name`."""
        return f"{self.url}/response/{name}"

    def answer_api(self, method: str, *answers: Handler) -> None:
        """Answer the next calls of `method` with these, in order."""
        self.api_answers.setdefault(method, deque()).extend(answers)

    def calls(self, method: str) -> list[Received]:
        """Calls of one Web API method."""
        return [r for r in self.recorder.received if r.path == f"/api/{method}"]

    def responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """Bodies posted to response_urls (optionally to one of them)."""
        wanted = f"/response/{name}" if name is not None else None
        return [
            r.data
            for r in self.recorder.received
            if r.path.startswith("/response/") and (wanted is None or r.path == wanted)
        ]

    async def wait_responses(
        self, count: int, name: str | None = None, within: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait for `count` posts to response_urls (to `name`, if given)."""
        await self.recorder.wait_for(lambda _: len(self.responses(name)) >= count, within)
        return self.responses(name)

    async def wait_calls(self, method: str, count: int = 1, within: float = 5.0) -> list[Received]:
        """Wait for `count` calls of `method`."""
        await self.recorder.wait_for(lambda _: len(self.calls(method)) >= count, within)
        return self.calls(method)

    async def send_envelope(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope over the newest connection."""
        await self.sockets[-1].send_json(envelope)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        item = await self.received(request)
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
            channel = item.data.get("channel")
            return web.json_response({"ok": True, "channel": channel, "ts": "1.000001"})
        return web.json_response({"ok": True})

    async def _response(self, request: web.Request) -> web.StreamResponse:
        await self.received(request)
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
