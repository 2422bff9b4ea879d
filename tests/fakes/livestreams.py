"""A stateful fake RealtimeKit app with many live streams, for stop-all.

A meeting stays live until it is stopped. The list endpoint answers in either shape
the API documents (`data` as an object holding the items and `paging`, or `data` as
the list with `paging` at the top) and honours `per_page` and `page_no`. It can be told
to answer 429 for a while, to fail some meetings' stops, or to hold some stops until a
gate opens, to change the list right after it serves a first page, and it tracks how
many requests were in flight at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Literal

from aiohttp import web

from bot.demo.standins import Handler, StandInServer

Shape = Literal["object", "list"]


def meeting_id(n: int) -> str:
    """The n-th fake meeting's ID (a UUID)."""
    return f"{n:08x}-0000-4000-8000-{n:012x}"


class FakeLiveApp(StandInServer):
    """RealtimeKit's list, stop and active-livestream endpoints over a set of meetings."""

    PREFIX = "/client/v4"

    def __init__(self, shape: Shape = "object") -> None:
        super().__init__()
        self.shape: Shape = shape
        self.live: dict[str, str] = {}  # meeting -> name, oldest first
        self.created: dict[str, str] = {}
        self.stopped: Counter[str] = Counter()  # stops that ended a live stream
        self.stop_calls: Counter[str] = Counter()  # every stop POST, whatever it answered
        self.not_live_stops: Counter[str] = Counter()  # stops answered 404
        self.failing: dict[str, tuple[int, str]] = {}  # meeting -> (status, message)
        self.gates: dict[str, asyncio.Event] = {}  # meeting -> its stop waits for this
        self.gate_all: asyncio.Event | None = None
        self.after_first_page: Callable[[], None] | None = None  # run once page 1 is read
        self.stop_seen = asyncio.Event()  # set at every stop POST
        self.delay = 0.0  # seconds before every answer
        self.in_flight = 0
        self.peak = 0
        self.times: list[float] = []  # when each request arrived (monotonic)
        self.throttled = 0  # 429s answered
        self._throttle: tuple[float, float] | None = None  # (seconds, retry_after)
        self._throttle_from: float | None = None
        self._throttle_stops_only = False
        self._count = 0
        app = self.PREFIX + "/accounts/{account}/realtime/kit/{app}"
        self.app.router.add_get(app + "/livestreams", self._list)
        self.app.router.add_post(app + "/meetings/{meeting}/active-livestream/stop", self._stop)
        self.app.router.add_get(app + "/meetings/{meeting}/active-livestream", self._status)

    @property
    def base_url(self) -> str:
        """The API base URL, for CLOUDFLARE_API_BASE_URL."""
        return self.url + self.PREFIX

    def add(self, count: int, name: str = "Stream") -> list[str]:
        """Make `count` more meetings live, named `<name> <n>`; their IDs, oldest first."""
        added = []
        for _ in range(count):
            self._count += 1
            meeting = meeting_id(self._count)
            self.live[meeting] = f"{name} {self._count}"
            self.created[meeting] = f"2026-11-28T09:{self._count // 60:02d}:{self._count % 60:02d}Z"
            added.append(meeting)
        return added

    def newest_first(self) -> list[str]:
        """Live meetings as the list endpoint sorts them with sort_order=DSC."""
        return list(reversed(self.live))

    def throttle(
        self, seconds: float, retry_after: float = 1.0, *, stops_only: bool = False
    ) -> None:
        """Answer every request with 429 (Retry-After: `retry_after`) for `seconds`,
        counted from the next request (with `stops_only`: the next stop, and only stops)."""
        self._throttle = (seconds, retry_after)
        self._throttle_from = None
        self._throttle_stops_only = stops_only

    async def _guard(self, request: web.Request) -> web.StreamResponse | None:
        """Record, count in flight, wait the delay; a 429 while throttled."""
        self.times.append(time.monotonic())
        await self.received(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        is_stop = request.path.endswith("/active-livestream/stop")
        if self._throttle is not None and (is_stop or not self._throttle_stops_only):
            now = time.monotonic()
            if self._throttle_from is None:
                self._throttle_from = now
            seconds, retry_after = self._throttle
            if now - self._throttle_from < seconds:
                self.throttled += 1
                error = {"code": 429, "message": "Too many requests"}
                return web.json_response(
                    {"success": False, "error": error},
                    status=429,
                    headers={"Retry-After": f"{retry_after:g}"},
                )
        return None

    async def _counted(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            refused = await self._guard(request)
            if refused is not None:
                return refused
            return await handler(request)
        finally:
            self.in_flight -= 1

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(request, self._list_page)

    async def _stop(self, request: web.Request) -> web.StreamResponse:
        meeting = request.match_info["meeting"]
        self.stop_calls[meeting] += 1
        self.stop_seen.set()
        return await self._counted(request, self._stop_answer)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return await self._counted(request, self._status_answer)

    async def _list_page(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("status") not in (None, "LIVE"):
            return web.json_response({"success": True, "data": [], "paging": {}})
        per_page = max(1, int(request.query.get("per_page", "20")))
        page_no = max(1, int(request.query.get("page_no", "1")))
        order = self.newest_first() if request.query.get("sort_order") == "DSC" else list(self.live)
        start = (page_no - 1) * per_page
        items = [
            {
                "id": f"ls-{meeting[:8]}",
                "meeting_id": meeting,
                "name": self.live[meeting],
                "status": "LIVE",
                "created_at": self.created[meeting],
                "stream_key": "live_sk_secret-never-shown",
                "ingest_server": "rtmps://ingest.example.invalid/live",
            }
            for meeting in order[start : start + per_page]
        ]
        paging = {
            "start_offset": start,
            "end_offset": start + len(items),
            "total_count": len(order),
        }
        if self.shape == "object":
            document = {"success": True, "data": {"livestreams": items, "paging": paging}}
        else:
            document = {"success": True, "data": items, "paging": paging}
        if page_no == 1 and self.after_first_page is not None:
            self.after_first_page()  # e.g. a stream ends before the other pages are read
        return web.json_response(document)

    async def _stop_answer(self, request: web.Request) -> web.StreamResponse:
        meeting = request.match_info["meeting"]
        gate = self.gates.get(meeting) or self.gate_all
        if gate is not None:
            await gate.wait()
        if meeting in self.failing:
            status, message = self.failing[meeting]
            error = {"code": status, "message": message}
            return web.json_response({"success": False, "error": error}, status=status)
        if meeting not in self.live:
            self.not_live_stops[meeting] += 1
            return _not_live()
        del self.live[meeting]
        self.stopped[meeting] += 1
        return web.json_response(
            {"success": True, "data": {"message": "Stopped live stream successfully"}}
        )

    async def _status_answer(self, request: web.Request) -> web.StreamResponse:
        meeting = request.match_info["meeting"]
        if meeting not in self.live:
            return _not_live()
        data = {"id": f"ls-{meeting[:8]}", "name": self.live[meeting], "status": "LIVE"}
        return web.json_response({"success": True, "data": data})


def _not_live() -> web.Response:
    error = {"code": 404, "message": "No active livestream found for this meeting"}
    return web.json_response({"success": False, "error": error}, status=404)
