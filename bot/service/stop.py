"""Stop once (or report what happened) and status: admit, call, audit, return an Outcome.

It knows nothing of Bolt: doors hand it a StopRequest and turn the Outcome into a reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.access import Access
from bot.codec import decode_result, encode_result
from bot.realtimekit import (
    Livestream,
    MeetingId,
    NoActiveLivestream,
    NotSent,
    RateLimited,
    RealtimeKitClient,
    StatusResult,
    StopResult,
)
from bot.realtimekit.client import CALL_BUDGET_SECONDS
from bot.service.admit import (
    BUTTON_LIFETIME_SECONDS,
    Admission,
    Admitted,
    Audit,
    Denied,
    Invalid,
    StopRequest,
    api_status,
    new_request_id,
    outcome_name,
)
from bot.state import Flight, State

log = logging.getLogger(__name__)

# A press is remembered a little longer than its button acts (copies' clocks differ).
PRESS_MEMORY_SECONDS = BUTTON_LIFETIME_SECONDS + 60.0
# A copy that takes a meeting's stop holds it at most this long: past it, the copy is
# presumed dead and another may call the API for that meeting.
STOP_LOCK_SECONDS = CALL_BUDGET_SECONDS + 5.0


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


Outcome = Invalid | Denied | Attempted | AlreadyPressed | Redelivered
OnAccepted = Callable[[MeetingId], None]


class StopCrashed(Exception):
    """An unexpected error inside an attempt; logged with its traceback under request_id."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"unexpected error (ref: {request_id})")
        self.request_id = request_id


class StopService(Admission):
    """Admits, stops (one API call per meeting at a time), audits and reports."""

    def __init__(
        self,
        client: RealtimeKitClient,
        access: Access,
        per_minute: int = 0,
        state: State | None = None,
        lock_ttl: float = STOP_LOCK_SECONDS,
    ) -> None:
        super().__init__(access, per_minute, state)
        self._client = client
        self._lock_ttl = lock_ttl

    async def stop(self, request: StopRequest, on_accepted: OnAccepted | None = None) -> Outcome:
        """Run one attempt; `on_accepted` is called once the person is authorised, just
        after the API call is under way."""
        fresh, where = await self.state.first_time(*request.delivery_ids)
        if not fresh:
            _log_redelivery(request.delivery_ids)
            return Redelivered()
        attempt = Audit("stop", request, new_request_id())
        meeting_id: MeetingId | None = None
        press: str | None = None
        try:
            admitted = await self.admit(request, attempt, limited=True)
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
                    again = _already_pressed(attempt.request_id, meeting_id, before)
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
            raise _crashed(attempt, meeting_id) from error
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
        return Attempted(attempt.request_id, request.user_id, meeting_id, result)

    async def may_stop(self, request: StopRequest) -> Invalid | Denied | None:
        """None if `request` would be admitted now (the rate limit is left to `stop`,
        which checks everything again and audits); else the refusal, audited once."""
        admitted = await self.admit(request, Audit("stop", request, new_request_id()))
        return None if isinstance(admitted, Admitted) else admitted

    async def status(self, request: StopRequest) -> Invalid | Denied | Looked:
        """Look up the meeting's active livestream, for an allowed person."""
        attempt = Audit("status", request, new_request_id())
        meeting_id: MeetingId | None = None
        try:
            admitted = await self.admit(request, attempt)
            if not isinstance(admitted, Admitted):
                return admitted
            meeting_id = admitted.meeting_id
            result = await self._client.get_active_livestream(meeting_id)
        except Exception as error:
            raise _crashed(attempt, meeting_id) from error
        match result:
            case Livestream():
                fields: dict[str, object] = {"api_status": 200, "outcome": result.status.lower()}
            case NoActiveLivestream():
                fields = {"api_status": None, "outcome": "no_active_livestream"}
            case failure:
                fields = {"api_status": api_status(failure), "outcome": outcome_name(failure)}
        attempt.write(meeting_id, "allowed", **fields)
        return Looked(attempt.request_id, request.user_id, meeting_id, result)

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


def _crashed(attempt: Audit, meeting_id: str | None) -> StopCrashed:
    """Log the traceback under the request's id, audit it, and name it for the person."""
    ref = attempt.request_id
    log.exception("unexpected error (ref: %s)", ref, extra={"request_id": ref})
    attempt.write(meeting_id, "error", outcome="error")
    return StopCrashed(ref)


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
