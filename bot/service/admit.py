"""The one admission every use case runs (stop, status, list, find, stop-all): Slack ID
shapes, the meeting ID, the button's age, access, the channel, the stop-all list and the
rate limit; a refusal is audited once, here."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

from bot import audit
from bot.access import Access, Denial
from bot.realtimekit import (
    ApiError,
    MeetingId,
    NoActiveLivestream,
    NotSent,
    RateLimited,
    Stopped,
    StopResult,
    TimedOut,
    Unconfirmed,
    UnexpectedResponse,
    Unreachable,
    parse_meeting_id,
)
from bot.slack_ids import is_channel_id, is_user_id
from bot.state import MemoryState, State, Where

Door = Literal["command", "button", "workflow", "shortcut", "stop_all"]
Problem = Literal["not_a_meeting_id", "malformed_user", "malformed_channel", "malformed_button"]

BUTTON_LIFETIME_SECONDS = 300.0


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
class Admitted:
    """The request is well formed and the person may act now (`where` the rate limit
    was counted)."""

    meeting_id: MeetingId
    where: Where = "shared"


def new_request_id() -> str:
    """A short id a person can quote and an operator can grep for."""
    return uuid.uuid4().hex[:12]


class Audit:
    """Writes one attempt's audit lines, with the fields every line of it shares."""

    def __init__(self, event: str, request: StopRequest, request_id: str, **shared: object):
        self._event, self._request, self.request_id = event, request, request_id
        self._shared = shared
        self._started = time.monotonic()

    def write(self, meeting_id: str | None, decision: str, **fields: object) -> None:
        """Append a line: what was decided and, for an allowed attempt, what happened."""
        request = self._request
        fields.setdefault("duration_ms", round((time.monotonic() - self._started) * 1000))
        audit.write(
            self._event, request_id=self.request_id, **self._shared, door=request.door,
            team_id=request.team_id, user_id=request.user_id, channel_id=request.channel_id,
            meeting_id=meeting_id, decision=decision, **fields,
        )  # fmt: skip


class Admission:
    """Who may act: the Access every door shares, and stops per person per minute
    (`per_minute`, 0: no limit) counted in `state`, across copies when shared."""

    def __init__(self, access: Access, per_minute: int = 0, state: State | None = None) -> None:
        self.access = access
        self.per_minute = per_minute
        self.state: State = state or MemoryState()

    async def admit(
        self,
        request: StopRequest,
        audit: Audit | None,
        *,
        meeting: bool = True,
        limited: bool = False,
        pressed: bool | None = None,
        stop_all: Access | None = None,
    ) -> Admitted | Invalid | Denied:
        """Admitted if the request is well formed (with a meeting ID when `meeting`; a
        `pressed` button, by default the button door's, with the time it was shown) and
        the person may act now: on the `stop_all` list too when given, counting one
        action against their rate limit when `limited`. Else the refusal, audited."""
        request_id = "" if audit is None else audit.request_id
        meeting_id = parse_meeting_id(request.meeting_text) if meeting else MeetingId("")
        pressed = request.door == "button" if pressed is None else pressed
        problem = _problem(request, meeting_id, pressed)
        if problem is not None or meeting_id is None:
            if audit is not None:
                audit.write(meeting_id or None, "invalid", reason=problem)
            return Invalid(request_id, request.meeting_text, problem or "not_a_meeting_id")
        denial = expired(request.issued_at) or await self.access.check(
            request.user_id, request.channel_id, request.team_id
        )
        if denial is None and stop_all is not None:
            denial = await _on_stop_all_list(stop_all, request)
        where: Where = "shared"
        if denial is None and limited:
            retry_after, where = await self.state.take(request.user_id, self.per_minute)
            if retry_after is not None:
                denial = Denial("rate_limited", retry_after=retry_after)
        if denial is None:
            return Admitted(meeting_id, where)
        if audit is not None:
            audit.write(
                meeting_id or None, "denied", reason=denial.reason, detail=denial.detail or None
            )
        return Denied(request_id, request.user_id, meeting_id, denial)


async def _on_stop_all_list(access: Access, request: StopRequest) -> Denial | None:
    """None when the person is on the stop-all list (on top of every other check)."""
    if not (access.policy.user_ids or access.policy.usergroup_ids):
        return Denial("disabled")
    denial = await access.check(request.user_id, None, request.team_id)
    if denial is not None and denial.reason == "not_allowed":
        return Denial("not_on_stop_all_list")
    return denial


def expired(issued_at: float | None) -> Denial | None:
    """A button shown more than BUTTON_LIFETIME_SECONDS ago no longer acts."""
    if issued_at is not None and time.time() - issued_at > BUTTON_LIFETIME_SECONDS:
        return Denial("expired")
    return None


def _problem(request: StopRequest, meeting_id: MeetingId | None, pressed: bool) -> Problem | None:
    """What is wrong with the request's shape, if anything."""
    if not is_user_id(request.user_id):
        return "malformed_user"
    if request.channel_id is not None and not is_channel_id(request.channel_id):
        return "malformed_channel"
    if meeting_id is None:
        return "not_a_meeting_id"
    if pressed and request.issued_at is None:
        return "malformed_button"
    return None


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
