"""The Cloudflare RealtimeKit client: it knows HTTP and the API, nothing of Slack.

Calls return values, never raise for anything the network or the API does:

    StopResult
    ├── Stopped                 HTTP 2xx with success: true; `message` is the API's own
    └── StopFailure
        ├── ApiError            the API answered with an error envelope (Dyte or v4)
        ├── RateLimited         HTTP 429 and the wait is longer than we retry for
        ├── TimedOut            no answer in time: the stream may have stopped anyway
        ├── Unreachable         no connection (refused, DNS, connect timeout, reset)
        └── UnexpectedResponse  HTML, empty, non-JSON or oversized body
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import json
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NewType

import anyio
import anyio.lowlevel
import httpx

from bot.config import Secret, Settings

MeetingId = NewType("MeetingId", str)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def parse_meeting_id(text: str) -> MeetingId | None:
    """The canonical (lowercase) UUID in `text`, or None when it is anything else."""
    candidate = text.strip().lower()
    return MeetingId(candidate) if _UUID.fullmatch(candidate) else None


@dataclass(frozen=True)
class Stopped:
    """The API confirmed the stop."""

    message: str
    status: int = 200


@dataclass(frozen=True)
class ApiError:
    """The API refused, with its own message (`code` is the envelope's, if any)."""

    status: int
    message: str
    code: int | None = None


@dataclass(frozen=True)
class RateLimited:
    """Cloudflare asked us to wait longer than we are willing to retry for."""

    retry_after: float | None


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


StopFailure = ApiError | RateLimited | TimedOut | Unreachable | UnexpectedResponse
StopResult = Stopped | StopFailure


@dataclass(frozen=True)
class Livestream:
    """What may be shown of an active livestream: never its stream key or ingest server."""

    status: str
    name: str | None = None
    playback_url: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class NoActiveLivestream:
    """The meeting has no active livestream; `message` is the API's, if it gave one."""

    message: str = ""


StatusResult = Livestream | NoActiveLivestream | StopFailure

MAX_BODY_BYTES = 1_000_000
_RETRY_STATUSES = frozenset({502, 503, 504})


def parse_stop_response(status: int, headers: Mapping[str, str], body: bytes) -> StopResult:
    """Turn any status, headers and body into one of our typed results."""
    document = json_object(body)
    if 200 <= status < 300 and document is not None and document.get("success") is True:
        data = document.get("data")
        message = data.get("message") if isinstance(data, dict) else None
        return Stopped(message if isinstance(message, str) else "", status)
    return _failure(status, headers, document)


def parse_status_response(status: int, headers: Mapping[str, str], body: bytes) -> StatusResult:
    """Turn any answer to GET .../active-livestream into one of our typed results,
    keeping only the fields that are safe to show."""
    document = json_object(body)
    if 200 <= status < 300 and document is not None and document.get("success") is True:
        data = document.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            return NoActiveLivestream()

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        return Livestream(
            status=str(data["status"]).upper(),
            name=text("name"),
            playback_url=text("playback_url"),
            created_at=text("created_at"),
            updated_at=text("updated_at"),
        )
    failure = _failure(status, headers, document)
    if status == 404 and isinstance(failure, ApiError):
        return NoActiveLivestream(failure.message)
    return failure


def _failure(
    status: int, headers: Mapping[str, str], document: dict[str, object] | None
) -> StopFailure:
    if status == 429:
        return RateLimited(parse_retry_after(headers.get("retry-after")))
    if document is not None:
        found = error_message(document)
        if found is not None:
            code, message = found
            return ApiError(status=status, message=message, code=code)
    return UnexpectedResponse(status)


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


class RealtimeKitClient:
    """Stops livestreams for one account and app, over one pooled connection set."""

    def __init__(
        self,
        *,
        base_url: str,
        account_id: str,
        app_id: str,
        api_token: Secret,
        timeout: float = 10.0,
        max_concurrency: int = 50,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 5.0,
    ) -> None:
        self._prefix = f"/accounts/{account_id}/realtime/kit/{app_id}/meetings"
        self._token = api_token
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_retry_after = max_retry_after
        # The semaphore keeps calls in flight within Cloudflare's per-IP limit, and keeps
        # bursts out of httpcore's queue. The connections are split over small pools:
        # httpcore's pool does work quadratic in its connection count on every request
        # (measured: most of the bot's CPU in a 100-stop burst with one 50-connection
        # pool). Calls take the first pool with room, so a quiet bot uses one connection.
        self._limit = asyncio.Semaphore(max_concurrency)
        self._pools = [
            _Pool(
                httpx.AsyncClient(
                    base_url=base_url.rstrip("/"),
                    timeout=httpx.Timeout(timeout),
                    limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                ),
                size,
            )
            for size in _split(max_concurrency, POOL_SIZE)
        ]

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RealtimeKitClient:
        """The client the settings describe; `overrides` replace keyword arguments."""
        options: dict[str, Any] = {
            "base_url": settings.cloudflare_api_base_url,
            "account_id": settings.cloudflare_account_id,
            "app_id": settings.realtimekit_app_id,
            "api_token": settings.cloudflare_api_token,
            "timeout": settings.cloudflare_timeout_seconds,
            "max_concurrency": settings.cloudflare_max_concurrency,
            "backoff": settings.cloudflare_retry_backoff_seconds,
        }
        return cls(**{**options, **overrides})

    async def warm(self) -> None:
        """Do now what the first stop would otherwise pay for: load anyio's asyncio
        backend (httpx loads it lazily, ~25 ms here) and resolve the API's host name
        (which also starts the resolver's worker thread)."""
        await anyio.lowlevel.checkpoint()
        url = self._pools[0].http.base_url
        port = url.port or (443 if url.scheme == "https" else 80)
        with contextlib.suppress(OSError, TimeoutError):  # the first stop will say what failed
            await asyncio.wait_for(anyio.getaddrinfo(url.host, port), 2.0)

    async def aclose(self) -> None:
        """Close pooled connections."""
        for pool in self._pools:
            await pool.http.aclose()

    async def stop_livestream(self, meeting_id: MeetingId) -> StopResult:
        """Stop the active livestream of `meeting_id`, retrying only where that is safe."""
        path = f"{self._prefix}/{meeting_id}/active-livestream/stop"
        answer = await self._call("POST", path, idempotent=False)
        if isinstance(answer, Answer):
            return parse_stop_response(answer.status, answer.headers, answer.body)
        return answer

    async def get_active_livestream(self, meeting_id: MeetingId) -> StatusResult:
        """The active livestream of `meeting_id`: its status, without its credentials."""
        path = f"{self._prefix}/{meeting_id}/active-livestream"
        answer = await self._call("GET", path, idempotent=True)
        if isinstance(answer, Answer):
            return parse_status_response(answer.status, answer.headers, answer.body)
        return answer

    async def verify_token(self, owner: Literal["account", "user"]) -> Answer | StopFailure:
        """Cloudflare's token check: the account-owned or the user token endpoint."""
        account = self._prefix.split("/realtime/")[0]
        path = f"{account}/tokens/verify" if owner == "account" else "/user/tokens/verify"
        return await self._call("GET", path, idempotent=True)

    async def list_one_meeting(self) -> Answer | StopFailure:
        """A harmless read of the RealtimeKit app: one page of one meeting."""
        return await self._call("GET", f"{self._prefix}?per_page=1", idempotent=True)

    async def _call(self, method: str, path: str, *, idempotent: bool) -> Answer | StopFailure:
        """Send with bounded retries: connection failures, 502/503/504, and 429 when
        Retry-After is within the cap. A request that may have reached the API (read
        timeout, reset) is retried only when it is `idempotent`."""
        last: Answer | StopFailure = Unreachable("network")
        for attempt in range(1, self._max_attempts + 1):
            wait = self._backoff * 2 ** (attempt - 1)
            try:
                async with self._limit:
                    last = await self._send(method, path)
            except httpx.ConnectTimeout:
                last = Unreachable("connect_timeout")
            except httpx.ConnectError as error:
                last = Unreachable(_connect_reason(error))
            except httpx.TimeoutException:
                last = TimedOut(self._timeout)
                if not idempotent:
                    return last
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
                last = Unreachable("reset")
                if not idempotent:
                    return last
            except httpx.HTTPError:
                return Unreachable("network")
            else:
                if last.too_large:
                    return UnexpectedResponse(last.status, too_large=True)
                if last.status == 429:
                    retry_after = parse_retry_after(last.headers.get("retry-after"))
                    if retry_after is not None and retry_after > self._max_retry_after:
                        return last
                    wait = wait if retry_after is None else retry_after
                elif last.status not in _RETRY_STATUSES:
                    return last
            if attempt < self._max_attempts:
                await asyncio.sleep(wait)
        return last

    async def _send(self, method: str, path: str) -> Answer:
        """One request; the caller holds a slot of `_limit`, so some pool has room."""
        pool = next(p for p in self._pools if p.busy < p.size)
        pool.busy += 1
        try:
            return await _read(pool.http, method, path, self._token)
        finally:
            pool.busy -= 1


POOL_SIZE = 10


@dataclass
class _Pool:
    http: httpx.AsyncClient
    size: int
    busy: int = 0


def _split(total: int, size: int) -> list[int]:
    """`total` as parts of at most `size`: 25, 10 -> [10, 10, 5]."""
    return [min(size, total - start) for start in range(0, total, size)]


async def _read(http: httpx.AsyncClient, method: str, path: str, token: Secret) -> Answer:
    headers = {"Authorization": f"Bearer {token.get()}", "Accept": "application/json"}
    async with http.stream(method, path, headers=headers) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return Answer(response.status_code, response.headers, b"", too_large=True)
            chunks.append(chunk)
        return Answer(response.status_code, response.headers, b"".join(chunks))


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read in full (unless it was over MAX_BODY_BYTES)."""

    status: int
    headers: httpx.Headers
    body: bytes
    too_large: bool = False


def _connect_reason(error: httpx.ConnectError) -> UnreachableReason:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "dns"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "refused"
        cause = cause.__cause__ or cause.__context__
    text = str(error).lower()
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return "dns"
    if "refused" in text or "all connection attempts failed" in text:
        return "refused"
    return "network"
