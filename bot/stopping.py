"""The use case behind every door: validate, authorise, stop once, audit, return an Outcome."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from bot import audit
from bot.access import Access, Denial, RateLimit
from bot.flight import SingleFlight
from bot.realtimekit import (
    ApiError,
    Livestream,
    MeetingId,
    NoActiveLivestream,
    RateLimited,
    RealtimeKitClient,
    StatusResult,
    Stopped,
    StopResult,
    TimedOut,
    UnexpectedResponse,
    Unreachable,
    parse_meeting_id,
)

log = logging.getLogger(__name__)

Door = Literal["command", "button", "workflow"]

REDELIVERY_WINDOW_SECONDS = 3600.0
BUTTON_LIFETIME_SECONDS = 300.0


@dataclass(frozen=True)
class StopRequest:
    """What a door hands the use case: who asked, from where, for what text.

    `delivery_ids` are Slack's ids for this delivery (event_id, function_execution_id):
    a redelivery carries the same ones and is not acted on again."""

    door: Door
    user_id: str
    meeting_text: str
    team_id: str | None = None
    channel_id: str | None = None
    delivery_ids: tuple[str, ...] = ()
    issued_at: float | None = None  # when the button pressed was shown (Unix time)


@dataclass(frozen=True)
class Invalid:
    """The meeting ID was not a UUID; nothing was called."""

    request_id: str
    text: str


@dataclass(frozen=True)
class Denied:
    """The person may not act here or now; nothing was called."""

    request_id: str
    user_id: str
    meeting_id: MeetingId
    denial: Denial


@dataclass(frozen=True)
class Attempted:
    """The API was asked to stop `meeting_id`; `result` says what it answered."""

    request_id: str
    user_id: str
    meeting_id: MeetingId
    result: StopResult


@dataclass(frozen=True)
class Looked:
    """The API was asked for the meeting's active livestream."""

    request_id: str
    user_id: str
    meeting_id: MeetingId
    result: StatusResult


@dataclass(frozen=True)
class Redelivered:
    """Slack delivered a request already handled: nothing to do, nothing to say."""


Outcome = Invalid | Denied | Attempted | Redelivered
OnAccepted = Callable[[MeetingId], None]
Audit = Callable[..., None]


class StopCrashed(Exception):
    """An unexpected error inside an attempt; logged with its traceback under request_id."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"unexpected error (ref: {request_id})")
        self.request_id = request_id


def _expired(request: StopRequest) -> Denial | None:
    """A button shown more than BUTTON_LIFETIME_SECONDS ago no longer acts."""
    if request.issued_at is None:
        return None
    if time.time() - request.issued_at > BUTTON_LIFETIME_SECONDS:
        return Denial("expired")
    return None


def new_request_id() -> str:
    """A short id a person can quote and an operator can grep for."""
    return uuid.uuid4().hex[:12]


def api_status(result: StopResult) -> int | None:
    """The HTTP status the API answered with, if it answered."""
    match result:
        case Stopped(status=status) | ApiError(status=status) | UnexpectedResponse(status=status):
            return status
        case RateLimited():
            return 429
        case TimedOut() | Unreachable():
            return None


def outcome_name(result: StopResult) -> str:
    """A stable name for the audit trail."""
    match result:
        case Stopped():
            return "stopped"
        case ApiError():
            return "api_error"
        case RateLimited():
            return "rate_limited"
        case TimedOut():
            return "timed_out"
        case Unreachable(reason=reason):
            return f"unreachable:{reason}"
        case UnexpectedResponse():
            return "unexpected_response"


class StopService:
    """Decides, stops (one API call per meeting at a time), audits and reports."""

    def __init__(
        self, client: RealtimeKitClient, access: Access, rate_limit: RateLimit | None = None
    ) -> None:
        self._client = client
        self.access = access
        self.rate_limit = rate_limit or RateLimit(0)
        self._stopping: SingleFlight[MeetingId, StopResult] = SingleFlight()
        self._delivered: dict[str, float] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def stop(self, request: StopRequest, on_accepted: OnAccepted | None = None) -> Outcome:
        """Run one attempt; `on_accepted` is called once the person is authorised, just
        before the API call."""
        if self._seen_before(request.delivery_ids):
            log.info("ignored a redelivery from Slack (%s)", ", ".join(request.delivery_ids))
            return Redelivered()
        request_id = new_request_id()
        done = self._auditor("stop", request, request_id)
        meeting_id: MeetingId | None = None
        try:
            admitted = await self._admit(request, request_id, done, limited=True)
            if not isinstance(admitted, str):
                return admitted
            meeting_id = admitted
            shared = self._stopping.running(meeting_id)
            call = self._stop_once(meeting_id)
            if on_accepted is not None:
                on_accepted(meeting_id)  # after the call is under way, so it goes out first
            result = await call
        except Exception as error:
            raise self._crashed(request_id, done, meeting_id) from error
        done(
            meeting_id, "allowed", api_status=api_status(result),
            outcome=outcome_name(result), shared=shared,
        )  # fmt: skip
        return Attempted(request_id, request.user_id, meeting_id, result)

    async def status(self, request: StopRequest) -> Invalid | Denied | Looked:
        """Look up the meeting's active livestream, for an allowed person."""
        request_id = new_request_id()
        done = self._auditor("status", request, request_id)
        meeting_id: MeetingId | None = None
        try:
            admitted = await self._admit(request, request_id, done, limited=False)
            if not isinstance(admitted, str):
                return admitted
            meeting_id = admitted
            result = await self._client.get_active_livestream(meeting_id)
        except Exception as error:
            raise self._crashed(request_id, done, meeting_id) from error
        match result:
            case Livestream():
                fields: dict[str, object] = {"api_status": 200, "outcome": result.status.lower()}
            case NoActiveLivestream():
                fields = {"api_status": None, "outcome": "no_active_livestream"}
            case failure:
                fields = {"api_status": api_status(failure), "outcome": outcome_name(failure)}
        done(meeting_id, "allowed", **fields)
        return Looked(request_id, request.user_id, meeting_id, result)

    async def _admit(
        self, request: StopRequest, request_id: str, done: Audit, *, limited: bool
    ) -> MeetingId | Invalid | Denied:
        """The meeting ID, if it is one and the person may act now (counting a stop
        against their rate limit when `limited`); else the refusal, audited."""
        meeting_id = parse_meeting_id(request.meeting_text)
        if meeting_id is None:
            done(None, "invalid", reason="not_a_meeting_id")
            return Invalid(request_id, request.meeting_text)
        denial = _expired(request) or await self.access.check(request.user_id, request.channel_id)
        if denial is None and limited:
            retry_after = self.rate_limit.take(request.user_id)
            if retry_after is not None:
                denial = Denial("rate_limited", retry_after=retry_after)
        if denial is not None:
            done(meeting_id, "denied", reason=denial.reason, detail=denial.detail or None)
            return Denied(request_id, request.user_id, meeting_id, denial)
        return meeting_id

    @staticmethod
    def _crashed(request_id: str, done: Audit, meeting_id: MeetingId | None) -> StopCrashed:
        """Log the traceback under `request_id`, audit it, and name it for the person."""
        log.exception("unexpected error (ref: %s)", request_id)
        done(meeting_id, "error", outcome="error")
        return StopCrashed(request_id)

    @staticmethod
    def _auditor(event: str, request: StopRequest, request_id: str) -> Audit:
        """A function that writes this attempt's one audit line."""
        started = time.monotonic()

        def done(meeting_id: str | None, decision: str, **fields: object) -> None:
            audit.write(
                event,
                request_id=request_id,
                door=request.door,
                team_id=request.team_id,
                user_id=request.user_id,
                channel_id=request.channel_id,
                meeting_id=meeting_id,
                decision=decision,
                **fields,
                duration_ms=round((time.monotonic() - started) * 1000),
            )

        return done

    def _seen_before(self, delivery_ids: tuple[str, ...]) -> bool:
        """True for a redelivery; remembers these ids for REDELIVERY_WINDOW_SECONDS."""
        if not delivery_ids:
            return False
        now = time.monotonic()
        if len(self._delivered) > 10_000:
            self._delivered = {k: v for k, v in self._delivered.items() if v > now}
        seen = any(self._delivered.get(d, 0.0) > now for d in delivery_ids)
        for delivery_id in delivery_ids:
            self._delivered[delivery_id] = now + REDELIVERY_WINDOW_SECONDS
        return seen

    def _stop_once(self, meeting_id: MeetingId) -> asyncio.Future[StopResult]:
        """The API call for `meeting_id`: requests for a meeting already being stopped
        share that call."""
        if self._stopping.running(meeting_id):
            log.info("meeting %s is already being stopped: sharing that call", meeting_id)
        return self._stopping.run(meeting_id, lambda: self._client.stop_livestream(meeting_id))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a door's work after its ack as a task that shutdown waits for."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a door's work failed", exc_info=task.exception())
        if not self._tasks:
            self._idle.set()

    async def drain(self, within: float) -> bool:
        """Wait up to `within` s for work in flight; True if all of it finished."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True
