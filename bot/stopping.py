"""The use case behind every door: validate, authorise, stop once, return an Outcome."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bot.access import Allowlist
from bot.realtimekit import MeetingId, RealtimeKitClient, StopResult, parse_meeting_id

Door = Literal["command", "button", "workflow"]


@dataclass(frozen=True)
class StopRequest:
    """What a door hands the use case: who asked, from where, for what text."""

    door: Door
    user_id: str
    meeting_text: str
    team_id: str | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class Invalid:
    """The meeting ID was not a UUID; nothing was called."""

    request_id: str
    text: str


@dataclass(frozen=True)
class Denied:
    """The person may not stop livestreams; nothing was called."""

    request_id: str
    user_id: str
    meeting_id: MeetingId


@dataclass(frozen=True)
class Attempted:
    """The API was asked to stop `meeting_id`; `result` says what it answered."""

    request_id: str
    user_id: str
    meeting_id: MeetingId
    result: StopResult


Outcome = Invalid | Denied | Attempted
OnAccepted = Callable[[MeetingId], Awaitable[None]]


def new_request_id() -> str:
    """A short id a person can quote and an operator can grep for."""
    return uuid.uuid4().hex[:12]


class StopService:
    """Decides, stops (one API call per meeting at a time) and reports."""

    def __init__(self, client: RealtimeKitClient, allowlist: Allowlist) -> None:
        self._client = client
        self._allowlist = allowlist
        self._stopping: dict[MeetingId, asyncio.Future[StopResult]] = {}
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def stop(self, request: StopRequest, on_accepted: OnAccepted | None = None) -> Outcome:
        """Run one attempt; `on_accepted` is awaited once the person is authorised."""
        request_id = new_request_id()
        meeting_id = parse_meeting_id(request.meeting_text)
        if meeting_id is None:
            return Invalid(request_id, request.meeting_text)
        if not self._allowlist.allows(request.user_id):
            return Denied(request_id, request.user_id, meeting_id)
        if on_accepted is not None:
            await on_accepted(meeting_id)
        result = await self._stop_once(meeting_id)
        return Attempted(request_id, request.user_id, meeting_id, result)

    async def _stop_once(self, meeting_id: MeetingId) -> StopResult:
        """Requests for a meeting already being stopped share that call."""
        pending = self._stopping.get(meeting_id)
        if pending is None:
            pending = asyncio.ensure_future(self._client.stop_livestream(meeting_id))
            self._stopping[meeting_id] = pending
            pending.add_done_callback(lambda _: self._stopping.pop(meeting_id, None))
        return await asyncio.shield(pending)

    @contextlib.asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Mark a door's work after its ack, so shutdown can wait for it."""
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def drain(self, within: float) -> bool:
        """Wait up to `within` s for work in flight; True if all of it finished."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True
