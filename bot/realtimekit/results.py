"""What the RealtimeKit client returns: values, never exceptions, for anything the
network or the API does.

    StopResult
    ├── Stopped                 HTTP 2xx with success: true; `message` is the API's own
    │                           (or: the answer was lost, and a status read showed the
    │                           stream is no longer live: `recovered_from` says how)
    ├── NoActiveLivestream      HTTP 404 whose message says the meeting has no active
    │                           livestream (not a failure: there was nothing to stop)
    └── StopFailure
        ├── ApiError            the API answered with an error envelope (Dyte or v4)
        ├── RateLimited         HTTP 429 and the wait is longer than we retry for
        ├── TimedOut            no answer in time: the stream may have stopped anyway
        ├── Unreachable         no connection (refused, DNS, connect timeout, reset)
        ├── UnexpectedResponse  HTML, empty, non-JSON or oversized body
        ├── NotSent             never sent: this copy began shutting down while the
        │                       request waited for its turn; nothing was changed
        └── Unconfirmed         the stop's answer was lost and the status read that
                                should have settled it failed too

    StatusResult = Livestream | NoActiveLivestream | ReadFailure
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, NewType

MeetingId = NewType("MeetingId", str)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def parse_meeting_id(text: str) -> MeetingId | None:
    """The canonical (lowercase) UUID in `text`, or None when it is anything else."""
    candidate = text.strip().lower()
    return MeetingId(candidate) if _UUID.fullmatch(candidate) else None


@dataclass(frozen=True)
class ApiError:
    """The API refused, with its own message (`code` is the envelope's, if any)."""

    status: int
    message: str
    code: int | None = None


@dataclass(frozen=True)
class RateLimited:
    """Cloudflare asked us to wait longer than we are willing to retry for; or, not
    `sent`, the bot held the request back (the API budget is used up, or every copy is
    paused after a 429), so nothing was sent."""

    retry_after: float | None
    sent: bool = True


@dataclass(frozen=True)
class TimedOut:
    """No answer within `seconds`; the request may still have taken effect."""

    seconds: float


UnreachableReason = Literal["refused", "dns", "connect_timeout", "reset", "network"]


@dataclass(frozen=True)
class Unreachable:
    """The request could not be delivered, or the connection broke mid-answer."""

    reason: UnreachableReason


@dataclass(frozen=True)
class UnexpectedResponse:
    """An answer we cannot read: HTML, empty, not JSON, or too large."""

    status: int
    too_large: bool = False


@dataclass(frozen=True)
class NotSent:
    """Never sent (the bot began shutting down while it waited): nothing changed."""


ReadFailure = ApiError | RateLimited | TimedOut | Unreachable | UnexpectedResponse | NotSent
"""Why a call gave no usable answer."""

Lost = TimedOut | Unreachable | UnexpectedResponse | ApiError
"""An answer to a stop that may have come after the stop took effect (a timeout, a
reset, or a 502/503/504 from the edge)."""


@dataclass(frozen=True)
class Unconfirmed:
    """The stop's answer was lost (`lost`) and the status read failed too (`check`)."""

    lost: Lost
    check: ReadFailure


@dataclass(frozen=True)
class Stopped:
    """The API confirmed the stop, or a status read after a lost answer did."""

    message: str
    status: int = 200
    recovered_from: Lost | None = None


StopFailure = ReadFailure | Unconfirmed


@dataclass(frozen=True)
class Livestream:
    """One meeting's active livestream, as its status read (GET .../active-livestream)
    gives it: what may be shown, never its stream key or ingest server. Not LiveStream,
    a row of the app's list, which names its meeting and has no playback URL."""

    status: str
    name: str | None = None
    playback_url: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class NoActiveLivestream:
    """The meeting has no active livestream; `message` is the API's, if it gave one."""

    message: str = ""


StatusResult = Livestream | NoActiveLivestream | ReadFailure
StopResult = Stopped | NoActiveLivestream | StopFailure


@dataclass(frozen=True)
class LiveStream:
    """One row of the app's list (GET .../livestreams): which meeting it belongs to, what
    may be shown, never its credentials. Not Livestream, one meeting's status read."""

    id: str
    meeting_id: MeetingId
    name: str | None = None
    status: str = "LIVE"
    created_at: str | None = None


@dataclass(frozen=True)
class LiveList:
    """Every livestream the list endpoint returned, all pages followed."""

    streams: tuple[LiveStream, ...]


ListResult = LiveList | ReadFailure


@dataclass(frozen=True)
class Meeting:
    """A meeting's title (None when it has none)."""

    title: str | None


MeetingResult = Meeting | ReadFailure
