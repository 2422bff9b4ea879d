"""The Cloudflare RealtimeKit client (client.py), its typed results (results.py, whose
docstring draws the tree) and the parsing of the API's answers (parsing.py)."""

from bot.realtimekit.client import Answer, RealtimeKitClient
from bot.realtimekit.parsing import (
    error_message,
    json_object,
    parse_retry_after,
    parse_status_response,
    parse_stop_response,
)
from bot.realtimekit.results import (
    ApiError,
    Livestream,
    Lost,
    MeetingId,
    NoActiveLivestream,
    RateLimited,
    ReadFailure,
    StatusResult,
    StopFailure,
    Stopped,
    StopResult,
    TimedOut,
    Unconfirmed,
    UnexpectedResponse,
    Unreachable,
    UnreachableReason,
    parse_meeting_id,
)

__all__ = [
    "Answer",
    "ApiError",
    "Livestream",
    "Lost",
    "MeetingId",
    "NoActiveLivestream",
    "RateLimited",
    "ReadFailure",
    "RealtimeKitClient",
    "StatusResult",
    "StopFailure",
    "StopResult",
    "Stopped",
    "TimedOut",
    "Unconfirmed",
    "UnexpectedResponse",
    "Unreachable",
    "UnreachableReason",
    "error_message",
    "json_object",
    "parse_meeting_id",
    "parse_retry_after",
    "parse_status_response",
    "parse_stop_response",
]
