"""The use case behind every door: validate, authorise, stop once, audit, return an Outcome.

It knows nothing of Bolt: doors hand it a StopRequest and turn the Outcome into a reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot import audit
from bot.access import Access, Denial
from bot.codec import decode_result, encode_result
from bot.realtimekit import (
    ApiError,
    Livestream,
    MeetingId,
    NoActiveLivestream,
    NotSent,
    RateLimited,
    RealtimeKitClient,
    StatusResult,
    Stopped,
    StopResult,
    TimedOut,
    Unconfirmed,
    UnexpectedResponse,
    Unreachable,
    parse_meeting_id,
)
from bot.realtimekit.client import CALL_BUDGET_SECONDS
from bot.slack_ids import is_channel_id, is_user_id
from bot.state import Flight, MemoryState, State, Where

log = logging.getLogger(__name__)

Door = Literal["command", "button", "workflow", "shortcut", "stop_all"]

BUTTON_LIFETIME_SECONDS = 300.0
# A press is remembered a little longer than its button acts (copies' clocks differ).
PRESS_MEMORY_SECONDS = BUTTON_LIFETIME_SECONDS + 60.0
# A copy that takes a meeting's stop holds it at most this long: past it, the copy is
# presumed dead and another may call the API for that meeting.
STOP_LOCK_SECONDS = CALL_BUDGET_SECONDS + 5.0


@dataclass(frozen=True)
class StopRequest:
    """What a door hands the use case: who asked, from where, for what text.

    `delivery_ids` are Slack's ids for this delivery (event_id, function_execution_id):
    a redelivery carries the same ones and is not acted on again. `issued_at` is when
    the pressed button was shown (Unix time); a button press without one is refused."""

    door: Door
    user_id: str
    meeting_text: str
    team_id: str | None = None
    channel_id: str | None = None
    delivery_ids: tuple[str, ...] = ()
    issued_at: float | None = None


Problem = Literal["not_a_meeting_id", "malformed_user", "malformed_channel", "malformed_button"]


@dataclass(frozen=True)
class Invalid:
    """The request was malformed (`problem`); nothing was called."""

    request_id: str
    text: str
    problem: Problem = "not_a_meeting_id"


@dataclass(frozen=True)
class Denied:
    """The person may not act here or now; nothing was called."""

    request_id: str
    user_id: str
    meeting_id: MeetingId
    denial: Denial


@dataclass(frozen=True)
class Attempted:
    """The stop of `meeting_id` was attempted; `result` says what the API answered (or
    NotSent: the bot shut down before its turn came)."""

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
class AlreadyPressed:
    """The same button was pressed before, by `by` at `at` (Unix time), so nothing was
    called; `result` is what that press got (None while it is not known)."""

    request_id: str
    meeting_id: MeetingId
    by: str
    at: float
    result: StopResult | None


@dataclass(frozen=True)
class Redelivered:
    """Slack delivered a request already handled: nothing to do, nothing to say."""


@dataclass(frozen=True)
class Admitted:
    """The request is well formed and the person may act now (`where` the rate limit
    was counted)."""

    meeting_id: MeetingId
    where: Where = "shared"


Outcome = Invalid | Denied | Attempted | AlreadyPressed | Redelivered
OnAccepted = Callable[[MeetingId], None]


class StopCrashed(Exception):
    """An unexpected error inside an attempt; logged with its traceback under request_id."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"unexpected error (ref: {request_id})")
        self.request_id = request_id


def new_request_id() -> str:
    """A short id a person can quote and an operator can grep for."""
    return uuid.uuid4().hex[:12]


def api_status(result: StopResult) -> int | None:
    """The HTTP status the API answered with, if it answered."""
    match result:
        case Stopped(status=status) | ApiError(status=status) | UnexpectedResponse(status=status):
            return status
        case RateLimited(sent=sent):
            return 429 if sent else None
        case NoActiveLivestream():
            return 404
        case TimedOut() | Unreachable() | Unconfirmed() | NotSent():
            return None


def outcome_name(result: StopResult) -> str:
    """A stable name for the audit trail."""
    match result:
        case Stopped(recovered_from=None):
            return "stopped"
        case Stopped():
            return "stopped_answer_lost"
        case NoActiveLivestream():
            return "not_live"
        case ApiError():
            return "api_error"
        case RateLimited(sent=False):
            return "held_back"
        case RateLimited():
            return "rate_limited"
        case TimedOut():
            return "timed_out"
        case Unreachable(reason=reason):
            return f"unreachable:{reason}"
        case UnexpectedResponse():
            return "unexpected_response"
        case Unconfirmed():
            return "unconfirmed"
        case NotSent():
            return "not_sent"


class AttemptAudit:
    """Writes one attempt's audit line, with the fields every line of it shares."""

    def __init__(self, event: str, request: StopRequest, request_id: str) -> None:
        self._event = event
        self._request = request
        self._request_id = request_id
        self._started = time.monotonic()

    def write(self, meeting_id: str | None, decision: str, **fields: object) -> None:
        """Append the line: what was decided and, for an allowed attempt, what happened."""
        request = self._request
        audit.write(
            self._event,
            request_id=self._request_id,
            door=request.door,
            team_id=request.team_id,
            user_id=request.user_id,
            channel_id=request.channel_id,
            meeting_id=meeting_id,
            decision=decision,
            **fields,
            duration_ms=round((time.monotonic() - self._started) * 1000),
        )


class StopService:
    """Decides, stops (one API call per meeting at a time), audits and reports."""

    def __init__(
        self,
        client: RealtimeKitClient,
        access: Access,
        per_minute: int = 0,
        state: State | None = None,
        lock_ttl: float = STOP_LOCK_SECONDS,
    ) -> None:
        self._client = client
        self._lock_ttl = lock_ttl
        self.access = access
        self.per_minute = per_minute  # stops per person per minute; 0: no limit
        # Redeliveries, single flight and the rate limit: across copies when shared.
        self.state: State = state or MemoryState()

    async def stop(self, request: StopRequest, on_accepted: OnAccepted | None = None) -> Outcome:
        """Run one attempt; `on_accepted` is called once the person is authorised, just
        after the API call is under way."""
        fresh, where = await self.state.first_time(*request.delivery_ids)
        if not fresh:
            _log_redelivery(request.delivery_ids)
            return Redelivered()
        request_id = new_request_id()
        attempt = AttemptAudit("stop", request, request_id)
        meeting_id: MeetingId | None = None
        press: str | None = None
        try:
            admitted = await self._admit(request, request_id, attempt, limited=True)
            if not isinstance(admitted, Admitted):
                return admitted
            meeting_id = admitted.meeting_id
            # A button acts once: it is known by its meeting and the time it was shown.
            press = None if request.issued_at is None else f"press:{meeting_id}:{request.issued_at}"
            pressed_at = time.time()
            if press is not None:
                record = _press_record(request.user_id, pressed_at, None)
                before, kept = await self.state.remember(press, record, PRESS_MEMORY_SECONDS)
                if before:  # "" is a press that did nothing, forgotten
                    again = _already_pressed(request_id, meeting_id, before)
                    attempt.write(meeting_id, "already_pressed", pressed_by=again.by, state=kept)
                    return again
            call = asyncio.ensure_future(self._stop_once(meeting_id))
            if on_accepted is not None:
                on_accepted(meeting_id)  # after the call is under way, so it goes out first
            flight = await call
        except asyncio.CancelledError:
            # The bot is shutting down and the grace ran out: the attempt still gets its line.
            attempt.write(meeting_id, "allowed", outcome="interrupted")
            raise
        except Exception as error:
            await self._forget(press)
            raise self._crashed(request_id, attempt, meeting_id) from error
        result = flight.value
        if press is not None and not _was_sent(result):
            await self._forget(press)  # nothing was done: the button may act again
        elif press is not None:
            record = _press_record(request.user_id, pressed_at, result)
            await self.state.remember(press, record, PRESS_MEMORY_SECONDS, replace=True)
        places = (where, admitted.where, flight.where)
        attempt.write(
            meeting_id, "allowed", api_status=api_status(result), outcome=outcome_name(result),
            shared=flight.joined, state="local" if "local" in places else "shared",
        )  # fmt: skip
        return Attempted(request_id, request.user_id, meeting_id, result)

    async def may_stop(self, request: StopRequest) -> Invalid | Denied | None:
        """None if `request` would be admitted now (the rate limit is left to `stop`,
        which checks everything again and audits); else the refusal, audited once."""
        request_id = new_request_id()
        attempt = AttemptAudit("stop", request, request_id)
        admitted = await self._admit(request, request_id, attempt, limited=False)
        return None if isinstance(admitted, Admitted) else admitted

    async def status(self, request: StopRequest) -> Invalid | Denied | Looked:
        """Look up the meeting's active livestream, for an allowed person."""
        request_id = new_request_id()
        attempt = AttemptAudit("status", request, request_id)
        meeting_id: MeetingId | None = None
        try:
            admitted = await self._admit(request, request_id, attempt, limited=False)
            if not isinstance(admitted, Admitted):
                return admitted
            meeting_id = admitted.meeting_id
            result = await self._client.get_active_livestream(meeting_id)
        except Exception as error:
            raise self._crashed(request_id, attempt, meeting_id) from error
        match result:
            case Livestream():
                fields: dict[str, object] = {"api_status": 200, "outcome": result.status.lower()}
            case NoActiveLivestream():
                fields = {"api_status": None, "outcome": "no_active_livestream"}
            case failure:
                fields = {"api_status": api_status(failure), "outcome": outcome_name(failure)}
        attempt.write(meeting_id, "allowed", **fields)
        return Looked(request_id, request.user_id, meeting_id, result)

    async def _admit(
        self, request: StopRequest, request_id: str, attempt: AttemptAudit, *, limited: bool
    ) -> Admitted | Invalid | Denied:
        """Admitted if the request is well formed and the person may act now (counting
        a stop against their rate limit when `limited`); else the refusal, audited."""
        meeting_id = parse_meeting_id(request.meeting_text)
        problem = _malformed(request, meeting_id)
        if problem is not None or meeting_id is None:
            attempt.write(meeting_id, "invalid", reason=problem)
            return Invalid(request_id, request.meeting_text, problem or "not_a_meeting_id")
        denial = expired(request.issued_at) or await self.access.check(
            request.user_id, request.channel_id, request.team_id
        )
        where: Where = "shared"
        if denial is None and limited:
            retry_after, where = await self.state.take(request.user_id, self.per_minute)
            if retry_after is not None:
                denial = Denial("rate_limited", retry_after=retry_after)
        if denial is not None:
            attempt.write(meeting_id, "denied", reason=denial.reason, detail=denial.detail or None)
            return Denied(request_id, request.user_id, meeting_id, denial)
        return Admitted(meeting_id, where)

    @staticmethod
    def _crashed(request_id: str, attempt: AttemptAudit, meeting_id: str | None) -> StopCrashed:
        """Log the traceback under `request_id`, audit it, and name it for the person."""
        log.exception("unexpected error (ref: %s)", request_id, extra={"request_id": request_id})
        attempt.write(meeting_id, "error", outcome="error")
        return StopCrashed(request_id)

    async def stop_shared(self, meeting_id: MeetingId) -> Flight[StopResult]:
        """One meeting's API call for a bulk action (no checks, no audit: the caller
        does both), shared with any stop of that meeting already under way."""
        return await self._stop_once(meeting_id)

    async def first_delivery(self, delivery_ids: tuple[str, ...]) -> bool:
        """True unless Slack delivered these ids before (then it is logged); marks them
        seen. For a door that must know before it does work of its own."""
        fresh, _ = await self.state.first_time(*delivery_ids)
        if not fresh:
            _log_redelivery(delivery_ids)
        return fresh

    async def _forget(self, press: str | None) -> None:
        """Let a button act again (its press did nothing)."""
        if press is not None:
            await self.state.remember(press, "", 0.001, replace=True)

    async def _stop_once(self, meeting_id: MeetingId) -> Flight[StopResult]:
        """The API call for `meeting_id`: requests for a meeting already being stopped,
        here or in another copy, share that call."""
        try:
            return await self.state.run_once(
                f"stop:{meeting_id}", lambda: self._sent(meeting_id), encode_result,
                decode_result, lock_ttl=self._lock_ttl,
            )  # fmt: skip
        except _Unsent as unsent:
            return Flight(unsent.result, False, "local")

    async def _sent(self, meeting_id: MeetingId) -> StopResult:
        """The stop's result; a stop this copy never sent is raised, so that copies waiting
        for it are not told its reason (this copy's shutdown) but make the call themselves."""
        result = await self._client.stop_livestream(meeting_id)
        if not _was_sent(result):
            raise _Unsent(result)
        return result


class _Unsent(Exception):
    def __init__(self, result: StopResult) -> None:
        super().__init__("the stop was not sent")
        self.result = result


def _was_sent(result: StopResult) -> bool:
    """False when the bot never sent the request (nothing was changed)."""
    return not isinstance(result, NotSent) and not (
        isinstance(result, RateLimited) and not result.sent
    )


def _press_record(user_id: str, at: float, result: StopResult | None) -> str:
    """What a button's press is remembered by, for the copies that see it pressed again."""
    return json.dumps(
        {"by": user_id, "at": at, "result": None if result is None else encode_result(result)}
    )


def _already_pressed(request_id: str, meeting_id: MeetingId, record: str) -> AlreadyPressed:
    kept = json.loads(record)
    result = None if kept["result"] is None else decode_result(kept["result"])
    return AlreadyPressed(request_id, meeting_id, str(kept["by"]), float(kept["at"]), result)


def _log_redelivery(delivery_ids: tuple[str, ...]) -> None:
    log.info("ignored a redelivery from Slack (%s)", ", ".join(delivery_ids))


def malformed_ids(
    user_id: str, channel_id: str | None
) -> Literal["malformed_user", "malformed_channel"] | None:
    """Which of a request's Slack IDs does not have the shape of one, if any."""
    if not is_user_id(user_id):
        return "malformed_user"
    if channel_id is not None and not is_channel_id(channel_id):
        return "malformed_channel"
    return None


def expired(issued_at: float | None) -> Denial | None:
    """A button shown more than BUTTON_LIFETIME_SECONDS ago no longer acts."""
    if issued_at is not None and time.time() - issued_at > BUTTON_LIFETIME_SECONDS:
        return Denial("expired")
    return None


def _malformed(request: StopRequest, meeting_id: MeetingId | None) -> Problem | None:
    """What is wrong with the request, if anything."""
    problem = malformed_ids(request.user_id, request.channel_id)
    if problem is not None:
        return problem
    if meeting_id is None:
        return "not_a_meeting_id"
    if request.door == "button" and request.issued_at is None:
        return "malformed_button"
    return None
