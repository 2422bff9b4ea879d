"""Local stand-ins for Slack and Cloudflare RealtimeKit, on 127.0.0.1.

The demo runs the real bot against them; the tests build their fakes on them. Each
records what it received and lets a caller wait for it with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
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


@dataclass
class StandInStream:
    """A livestream as the list endpoint shows it, with its meeting's title."""

    meeting_id: str
    name: str
    created_at: str
    title: str | None = None
    status: str = "LIVE"


ListShape = Literal["list", "object"]
_MEETING_PATH = re.compile(r"/meetings/[^/]+$")


class LiveCatalog:
    """What the app has live, served as `GET .../livestreams` and `GET .../meetings/{id}`.

    `shape` picks one of the two documented list shapes: "list" (the spec's example:
    `data` is the list, `paging` at the top, pages of up to PAGE_LIMIT) or "object" (the
    spec's schema and the SDK's model: `data` is one livestream with `paging` among its
    fields, so one livestream per page). Scripted answers (`list_answers`,
    `meeting_answers`: a 429 with Retry-After, a slow read...) are used first."""

    PAGE_LIMIT = 10

    def __init__(self, server: StandInServer, prefix: str) -> None:
        self.server = server
        self.streams: dict[str, StandInStream] = {}
        self.titles: dict[str, str] = {}
        self.shape: ListShape = "list"
        self.list_answers: deque[Handler] = deque()
        self.meeting_answers: deque[Handler] = deque()
        app_path = prefix + "/accounts/{account}/realtime/kit/{app}"
        server.app.router.add_get(app_path + "/livestreams", self._list)
        server.app.router.add_get(app_path + "/meetings/{meeting}", self._meeting)

    def add(
        self,
        meeting_id: str,
        name: str,
        title: str | None = None,
        created_at: str = "2026-11-28T09:00:00Z",
    ) -> StandInStream:
        """Make `meeting_id` live under `name` (and give its meeting `title`)."""
        stream = StandInStream(meeting_id, name, created_at, title)
        self.streams[meeting_id] = stream
        if title is not None:
            self.titles[meeting_id] = title
        return stream

    def list_calls(self) -> list[Received]:
        """The list reads received."""
        return [r for r in self.server.recorder.received if r.path.endswith("/livestreams")]

    def meeting_calls(self) -> list[Received]:
        """The meeting reads received."""
        return [
            r
            for r in self.server.recorder.received
            if r.method == "GET" and _MEETING_PATH.search(r.path)
        ]

    def list_after(self, gate: asyncio.Event) -> Handler:
        """A list answer given only once `gate` is set (for `list_answers`)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            await gate.wait()
            return await self._listing(request)

        return answer

    async def _list(self, request: web.Request) -> web.StreamResponse:
        await self.server.received(request)
        if self.list_answers:
            return await self.list_answers.popleft()(request)
        return await self._listing(request)

    async def _listing(self, request: web.Request) -> web.StreamResponse:
        wanted = request.query.get("status")
        streams = [s for s in self.streams.values() if wanted in (None, s.status)]
        streams.sort(key=lambda s: s.created_at, reverse=request.query.get("sort_order") != "ASC")
        per_page = 1 if self.shape == "object" else self.PAGE_LIMIT
        per_page = max(1, min(per_page, _number(request.query.get("per_page"), per_page)))
        page_no = max(1, _number(request.query.get("page_no"), 1))
        start = (page_no - 1) * per_page
        page = [_stream_item(s) for s in streams[start : start + per_page]]
        paging = {
            "start_offset": start + 1 if page else 0,
            "end_offset": start + len(page),
            "total_count": len(streams),
        }
        if self.shape == "list":
            return web.json_response({"success": True, "data": page, "paging": paging})
        data = {**(page[0] if page else {}), "paging": paging}
        return web.json_response({"success": True, "data": data})

    async def _meeting(self, request: web.Request) -> web.StreamResponse:
        await self.server.received(request)
        if self.meeting_answers:
            return await self.meeting_answers.popleft()(request)
        meeting = request.match_info["meeting"]
        if meeting not in self.titles:
            error = {"code": 404, "message": "Meeting not found"}
            return web.json_response({"success": False, "error": error}, status=404)
        data = {
            "id": meeting,
            "title": self.titles[meeting],
            "status": "ACTIVE",
            "created_at": "2026-11-28T08:00:00Z",
        }
        return web.json_response({"success": True, "data": data})


def _number(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _stream_item(stream: StandInStream) -> dict[str, Any]:
    """A livestream as the API lists it, credentials included (the bot must drop them)."""
    return {
        "id": f"ls-{stream.meeting_id[:8]}",
        "meeting_id": stream.meeting_id,
        "name": stream.name,
        "status": stream.status,
        "created_at": stream.created_at,
        "updated_at": stream.created_at,
        "playback_url": f"https://play.example.invalid/{stream.meeting_id[:8]}.m3u8",
        "stream_key": "live_sk_stand-in-DO-NOT-SHOW",
        "ingest_server": "rtmps://ingest.example.invalid:443/live",
    }


class StandInRealtimeKit(StandInServer):
    """RealtimeKit with state: a meeting in `live` stays live until it is stopped, and
    `catalog` lists what is live, with names and meeting titles."""

    PREFIX = "/client/v4"

    def __init__(self, live: set[str] | None = None) -> None:
        super().__init__()
        self.catalog = LiveCatalog(self, self.PREFIX)
        for number, meeting in enumerate(sorted(live or ()), start=1):
            self.catalog.add(meeting, f"Stream {number}")
        base = self.PREFIX + "/accounts/{account}/realtime/kit/{app}/meetings/{meeting}"
        self.app.router.add_post(base + "/active-livestream/stop", self._stop)
        self.app.router.add_get(base + "/active-livestream", self._status)

    @property
    def live(self) -> set[str]:
        """The meetings live now."""
        return {m for m, s in self.catalog.streams.items() if s.status == "LIVE"}

    @property
    def base_url(self) -> str:
        """The API base URL, for CLOUDFLARE_API_BASE_URL."""
        return self.url + self.PREFIX

    async def _stop(self, request: web.Request) -> web.StreamResponse:
        await self.received(request)
        meeting = request.match_info["meeting"]
        if meeting not in self.live:
            return _no_active_livestream()
        del self.catalog.streams[meeting]
        return web.json_response(
            {"success": True, "data": {"message": "Stopped live stream successfully"}}
        )

    async def _status(self, request: web.Request) -> web.StreamResponse:
        await self.received(request)
        meeting = request.match_info["meeting"]
        if meeting not in self.live:
            return _no_active_livestream()
        stream = self.catalog.streams[meeting]
        data = {
            "id": f"ls-{meeting[:8]}",
            "name": stream.name,
            "status": "LIVE",
            "created_at": stream.created_at,
        }
        return web.json_response({"success": True, "data": data})


def _no_active_livestream() -> web.Response:
    error = {"code": 404, "message": "No active livestream found for this meeting"}
    return web.json_response({"success": False, "error": error}, status=404)
