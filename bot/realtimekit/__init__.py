"""The Cloudflare RealtimeKit client (client.py), its typed results (results.py, whose
docstring draws the tree) and the parsing of the API's answers (parsing.py)."""

from bot.realtimekit.client import RealtimeKitClient
from bot.realtimekit.parsing import (
    error_message,
    json_object,
    parse_retry_after,
    parse_stop_response,
)
from bot.realtimekit.results import (
    ApiError,
    ListResult,
    LiveList,
    LiveStream,
    Livestream,
    Lost,
    Meeting,
    MeetingId,
    NoActiveLivestream,
    NotSent,
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
    parse_meeting_id,
)
from bot.realtimekit.transport import Answer

__all__ = [
    "Answer",
    "ApiError",
    "ListResult",
    "LiveList",
    "LiveStream",
    "Livestream",
    "Lost",
    "Meeting",
    "MeetingId",
    "NoActiveLivestream",
    "NotSent",
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
    "error_message",
    "json_object",
    "parse_meeting_id",
    "parse_retry_after",
    "parse_stop_response",
]
