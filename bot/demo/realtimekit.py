"""The one RealtimeKit stand-in on 127.0.0.1: the demo, the tests and the benchmarks use it.

It keeps state: `live` (meeting -> Stream) until a stop ends it, and the meetings'
`titles`; the list is paged in the API's documented shapes. Faults are scriptable:
queued answers (standins.cf_*, a reset mid-body among them) through `then` for stops,
status reads and other calls, `list_answers` and `meeting_answers`; a fixed `default` in
place of the state; `hang()`, `gated()`, per-meeting `failing` and `gates`, a `delay`
before every answer, 429s for a while (`throttle`). Every request is recorded, and the
most in flight at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from bot.demo.standins import Handler, Received, StandInServer, cf_dyte_error, cf_success

# "list": the spec's example (`data` is the page, `paging` at the top); "object": its
# schema and the SDK's model (`data` is one livestream, `paging` among its fields, so one
# per page); "wrapped": `data` an object holding the page and `paging`.
Shape = Literal["list", "object", "wrapped"]
STOP = "/active-livestream/stop"
_STOPPED = cf_success()
_NOT_LIVE = cf_dyte_error(404, "No active livestream found for this meeting")


def meeting_id(n: int) -> str:
    """The n-th made-up meeting ID (a lowercase UUID)."""
    return f"{n:08x}-0000-4000-8000-{n:012x}"


@dataclass
class Stream:
    """A live stream as the list shows it."""

    meeting_id: str
    name: str
    created_at: str


class StandInRealtimeKit(StandInServer):
    """RealtimeKit's list, meeting, stop and active-livestream endpoints over `live`."""

    PREFIX = "/client/v4"

    def __init__(self, default: Handler | None = None) -> None:
        super().__init__()
        self.live: dict[str, Stream] = {}  # oldest first
        self.titles: dict[str, str] = {}
        self.shape: Shape = "list"
        self.page_limit = 10  # the most a list page holds, whatever per_page asks
        self.default: Handler = default or self.from_state  # when nothing is scripted
        self.script: deque[Handler] = deque()  # for stops, status reads and other calls
        self.list_answers: deque[Handler] = deque()
        self.meeting_answers: deque[Handler] = deque()
        self.failing: dict[str, tuple[int, str]] = {}  # meeting -> its stop's (status, message)
        self.gates: dict[str, asyncio.Event] = {}  # meeting -> its stop waits for this
        self.gate_all: asyncio.Event | None = None  # every stop waits for this
        self.after_first_page: Callable[[], None] | None = None  # run once page 1 is read
        self.stopped: Counter[str] = Counter()  # stops that ended a live stream
        self.not_live_stops: Counter[str] = Counter()  # stops answered 404
        self.delay = 0.0  # seconds before every answer
        self.in_flight = self.peak = self.throttled = 0
        self._throttle: tuple[float, float, bool] | None = None
        self._throttle_from: float | None = None
        self._count = 0
        app = self.PREFIX + "/accounts/{account}/realtime/kit/{app}"
        self.app.middlewares.append(self._front)
        self.app.router.add_get(app + "/livestreams", self._list)
        self.app.router.add_get(app + "/meetings/{meeting}", self._meeting)
        self.app.router.add_post(app + "/meetings/{meeting}" + STOP, self._handle)
        self.app.router.add_get(app + "/meetings/{meeting}/active-livestream", self._handle)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def base_url(self) -> str:
        """The API base URL, for CLOUDFLARE_API_BASE_URL."""
        return self.url + self.PREFIX

    def add(
        self,
        meeting: str,
        name: str,
        title: str | None = None,
        created_at: str = "2026-11-28T09:00:00Z",
    ) -> Stream:
        """Make `meeting` live under `name` (and give the meeting `title`)."""
        stream = self.live[meeting] = Stream(meeting, name, created_at)
        if title is not None:
            self.titles[meeting] = title
        return stream

    def go_live(self, count: int, name: str = "Stream") -> list[str]:
        """Make `count` more meetings live, named `<name> <n>`, a second apart; their IDs."""
        added = []
        for _ in range(count):
            self._count = n = self._count + 1
            at = f"2026-11-28T09:{n // 60:02d}:{n % 60:02d}Z"
            added.append(self.add(meeting_id(n), f"{name} {n}", created_at=at).meeting_id)
        return added

    def then(self, *answers: Handler) -> None:
        """Answer the next stops, status reads and other calls with these, in order."""
        self.script.extend(answers)

    def hang(self) -> Handler:
        """Never answer (until teardown)."""

        async def answer(_: web.Request) -> web.StreamResponse:
            await self.release.wait()
            return web.Response(status=599)

        return answer

    def gated(self, gate: asyncio.Event, then: Handler | None = None) -> Handler:
        """Answer (with `then`, else the default) only once `gate` is set."""

        async def answer(request: web.Request) -> web.StreamResponse:
            await gate.wait()
            return await (then or self.default)(request)

        return answer

    def throttle(
        self, seconds: float, retry_after: float = 1.0, *, stops_only: bool = False
    ) -> None:
        """Answer every request with 429 (Retry-After: `retry_after`) for `seconds`,
        counted from the next request (with `stops_only`: the next stop, and only stops)."""
        self._throttle = (seconds, retry_after, stops_only)
        self._throttle_from = None

    @property
    def stop_calls(self) -> list[Received]:
        """The stops received."""
        return [r for r in self.recorder.received if r.path.endswith(STOP)]

    def list_calls(self) -> list[Received]:
        """The list reads received."""
        return [r for r in self.recorder.received if r.path.endswith("/livestreams")]

    def meeting_calls(self) -> list[Received]:
        """The meeting reads received."""
        received = self.recorder.received
        return [r for r in received if r.method == "GET" and r.path.split("/")[-2] == "meetings"]

    @property
    def times(self) -> list[float]:
        """When each request arrived (monotonic)."""
        return [r.at for r in self.recorder.received]

    @web.middleware
    async def _front(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record, count in flight, wait the delay; a 429 while throttled."""
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.received(request)
            if self.delay:
                await asyncio.sleep(self.delay)
            retry_after = self._retry_after(request)
            if retry_after is None:
                return await handler(request)
            self.throttled += 1
            headers = {"Retry-After": f"{retry_after:g}"}
            return await cf_dyte_error(429, "Too many requests", headers)(request)
        finally:
            self.in_flight -= 1

    def _retry_after(self, request: web.Request) -> float | None:
        if self._throttle is None:
            return None
        seconds, retry_after, stops_only = self._throttle
        if stops_only and not request.path.endswith(STOP):
            return None
        now = time.monotonic()
        if self._throttle_from is None:
            self._throttle_from = now
        return retry_after if now - self._throttle_from < seconds else None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        answer = self.script.popleft() if self.script else self.default
        return await answer(request)

    async def from_state(self, request: web.Request) -> web.StreamResponse:
        """A stop or status read answered from `live`; anything else is not found."""
        meeting = request.match_info.get("meeting", "")
        if not meeting:
            return await cf_dyte_error(404, "Not found")(request)
        if request.method == "POST":
            return await self._stop(request, meeting)
        if meeting not in self.live:
            return await _NOT_LIVE(request)
        name, created_at = self.live[meeting].name, self.live[meeting].created_at
        data = {"id": f"ls-{meeting[:8]}", "name": name, "status": "LIVE", "created_at": created_at}
        return web.json_response({"success": True, "data": data})

    async def _stop(self, request: web.Request, meeting: str) -> web.StreamResponse:
        gate = self.gates.get(meeting) or self.gate_all
        if gate is not None:
            await gate.wait()
        if meeting in self.failing:
            return await cf_dyte_error(*self.failing[meeting])(request)
        if self.live.pop(meeting, None) is None:
            self.not_live_stops[meeting] += 1
            return await _NOT_LIVE(request)
        self.stopped[meeting] += 1
        return await _STOPPED(request)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        answer = self.list_answers.popleft() if self.list_answers else self.listing
        return await answer(request)

    async def listing(self, request: web.Request) -> web.StreamResponse:
        """A page of `live` as the list endpoint answers it."""
        query = request.query
        newest_first = query.get("sort_order") != "ASC"
        streams = sorted(self.live.values(), key=lambda s: s.created_at, reverse=newest_first)
        if query.get("status") not in (None, "LIVE"):
            streams = []
        per_page = 1 if self.shape == "object" else self.page_limit
        per_page = max(1, min(per_page, _number(query.get("per_page"), per_page)))
        page_no = max(1, _number(query.get("page_no"), 1))
        start = (page_no - 1) * per_page
        page = [_item(s) for s in streams[start : start + per_page]]
        paging = {
            "start_offset": start + 1 if page else 0,
            "end_offset": start + len(page),
            "total_count": len(streams),
        }
        if self.shape == "list":
            document = {"success": True, "data": page, "paging": paging}
        elif self.shape == "object":
            document = {"success": True, "data": {**(page[0] if page else {}), "paging": paging}}
        else:
            document = {"success": True, "data": {"livestreams": page, "paging": paging}}
        if page_no == 1 and self.after_first_page is not None:
            self.after_first_page()  # e.g. a stream ends before the other pages are read
        return web.json_response(document)

    async def _meeting(self, request: web.Request) -> web.StreamResponse:
        if self.meeting_answers:
            return await self.meeting_answers.popleft()(request)
        meeting = request.match_info["meeting"]
        if meeting not in self.titles:
            return await cf_dyte_error(404, "Meeting not found")(request)
        title, created_at = self.titles[meeting], "2026-11-28T08:00:00Z"
        data = {"id": meeting, "title": title, "status": "ACTIVE", "created_at": created_at}
        return web.json_response({"success": True, "data": data})


def _number(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _item(stream: Stream) -> dict[str, Any]:
    """A livestream as the API lists it, credentials included (the bot must drop them)."""
    return {
        "id": f"ls-{stream.meeting_id[:8]}",
        "meeting_id": stream.meeting_id,
        "name": stream.name,
        "status": "LIVE",
        "created_at": stream.created_at,
        "updated_at": stream.created_at,
        "playback_url": f"https://play.example.invalid/{stream.meeting_id[:8]}.m3u8",
        "stream_key": "live_sk_stand-in-DO-NOT-SHOW",
        "ingest_server": "rtmps://ingest.example.invalid:443/live",
    }
