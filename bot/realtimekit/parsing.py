"""Turning any status, headers and body from the API into typed results."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.realtimekit.results import (
    ApiError,
    LiveStream,
    Livestream,
    Meeting,
    NoActiveLivestream,
    RateLimited,
    StatusResult,
    Stopped,
    StopResult,
    UnexpectedResponse,
    parse_meeting_id,
)

# The API's answer to a stop of a meeting with no active livestream is documented
# nowhere (not in Cloudflare's API reference, its OpenAPI spec or the official SDK, which
# list only the 200): a 404 in the Dyte envelope, "No active livestream found ...", as
# the Dyte API answered. A 404 for a meeting or an app that does not exist has the same
# status, so only the message tells them apart.
_NOT_LIVE = re.compile(r"\bno\b[\w ]*\blive ?streams?\b", re.IGNORECASE)

Refusal = ApiError | RateLimited | UnexpectedResponse
"""An answer that is no success."""


def parse_stop_response(status: int, headers: Mapping[str, str], body: bytes) -> StopResult:
    """Turn any status, headers and body into one of our typed results."""
    document = _success(status, headers, body)
    if not isinstance(document, dict):
        return _not_live_or(document)
    data = document.get("data")
    message = data.get("message") if isinstance(data, dict) else None
    return Stopped(message if isinstance(message, str) else "", status)


def parse_status_response(status: int, headers: Mapping[str, str], body: bytes) -> StatusResult:
    """Any answer to GET .../active-livestream, keeping only the fields safe to show."""
    document = _success(status, headers, body)
    if not isinstance(document, dict):
        return _not_live_or(document)
    data = document.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        return NoActiveLivestream()
    return Livestream(
        status=str(data["status"]).upper(),
        name=_text(data, "name"),
        playback_url=_text(data, "playback_url"),
        created_at=_text(data, "created_at"),
        updated_at=_text(data, "updated_at"),
    )


def _success(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, object] | Refusal:
    """The answer's JSON object when it is a success, else the failure it stands for."""
    document = json_object(body)
    if 200 <= status < 300 and document is not None and document.get("success") is True:
        return document
    if status == 429:
        return RateLimited(parse_retry_after(headers.get("retry-after")))
    found = None if document is None else error_message(document)
    if found is None:
        return UnexpectedResponse(status)
    return ApiError(status=status, message=found[1], code=found[0])


def _not_live_or(refused: Refusal) -> Refusal | NoActiveLivestream:
    """`refused`, unless it is the 404 that says the meeting has no active livestream."""
    match refused:
        case ApiError(status=404, message=message) if _NOT_LIVE.search(message):
            return NoActiveLivestream(message)
    return refused


def _text(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds or seconds == float("inf"):  # NaN or infinite
        return None
    return max(0.0, seconds)


def json_object(body: bytes) -> dict[str, object] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def error_message(document: dict[str, object]) -> tuple[int | None, str] | None:
    """(code, message) from the Dyte envelope or Cloudflare's v4 envelope."""
    error = document.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message.strip():
            code = error.get("code")
            return (code if _is_int(code) else None), message.strip()
    if isinstance(error, str) and error.strip():
        return None, error.strip()
    errors = document.get("errors")
    if isinstance(errors, list):
        parts = [e for e in errors if isinstance(e, dict) and isinstance(e.get("message"), str)]
        messages = [str(e["message"]).strip() for e in parts if str(e["message"]).strip()]
        if messages:
            code = parts[0].get("code")
            return (code if _is_int(code) else None), "; ".join(messages)
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Page:
    """One page of livestreams, whether more follow, and the `total` if the API says."""

    streams: list[LiveStream]
    more: bool
    total: int | None = None


def parse_livestream_page(status: int, headers: Mapping[str, str], body: bytes) -> Page | Refusal:
    """One page of GET .../livestreams. The API's schema makes `data` one livestream
    object with `paging` among its fields (the official SDK's model says so too); its own
    example has `data` as the list and `paging` at the top: both are read, as is a `data`
    object holding the list. Stream keys and ingest servers are never kept."""
    document = _success(status, headers, body)
    if not isinstance(document, dict):
        return document
    data = document.get("data")
    paging = document.get("paging")
    items: object = data
    if isinstance(data, dict):
        paging = data.get("paging", paging)
        listed = [v for k, v in data.items() if isinstance(v, list) and k != "paging"]
        if listed:
            items = listed[0]
        elif "meeting_id" in data:
            items = [data]  # the schema's shape: the object is the livestream itself
        else:
            items = []
    if not isinstance(items, list):
        return UnexpectedResponse(status)
    streams = [s for s in (_live_stream(item) for item in items) if s is not None]
    if isinstance(paging, dict):
        end, total = paging.get("end_offset"), paging.get("total_count")
        if isinstance(end, int) and isinstance(total, int):
            return Page(streams, end < total and bool(items), total)
    return Page(streams, more=False)


def _live_stream(item: object) -> LiveStream | None:
    if not isinstance(item, dict):
        return None
    meeting_id = parse_meeting_id(str(item.get("meeting_id") or ""))
    if meeting_id is None:
        return None
    return LiveStream(
        id=_text(item, "id") or "",
        meeting_id=meeting_id,
        name=_text(item, "name"),
        status=(_text(item, "status") or "").upper(),
        created_at=_text(item, "created_at"),
    )


def parse_meeting_response(
    status: int, headers: Mapping[str, str], body: bytes
) -> Meeting | Refusal:
    """GET .../meetings/{id}: its title, if it has one."""
    document = _success(status, headers, body)
    if not isinstance(document, dict):
        return document
    data = document.get("data")
    title = data.get("title") if isinstance(data, dict) else None
    return Meeting(title.strip() or None if isinstance(title, str) else None)
