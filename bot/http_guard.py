"""What stands between the network and Bolt in HTTP mode.

- Slack's timestamp and signature are checked (`check_headers`, then
  `verify_signature` on the raw bytes) before anything parses the body, so an unsigned
  request costs at most one HMAC and none of it is logged.
- A signed body Bolt could not read is refused with a named reason (`bolt_request`).
- Each connection must deliver a request within a deadline (`ReadDeadline`).
- Noisy events (rejections, slow connections, malformed HTTP, running out of file
  descriptors) are counted and reported at most once a minute (`RateLimitedLog`,
  `AcceptFailures`).

Errors: `Unauthenticated` (answer 401) and `MalformedBody` (answer 400), both with a
fixed `reason` that never contains anything the client sent.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import errno
import hashlib
import hmac
import logging
import re
import time
from asyncio.constants import ACCEPT_RETRY_DELAY
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body

# Slack's own window, and the one Bolt (slack_sdk's SignatureVerifier) applies after us.
MAX_CLOCK_SKEW_SECONDS = 60 * 5
REPORT_INTERVAL_SECONDS = 60.0

Clock = Callable[[], float]

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# What asyncio's accept loop reports when the process or system runs out of them.
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Unauthenticated(Exception):
    """The request is not signed by Slack with our signing secret (answer 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedBody(Exception):
    """A signed request whose body Bolt cannot read (answer 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_headers(headers: Mapping[str, str], now: float | None = None) -> tuple[str, str]:
    """The timestamp and signature headers, if well formed and fresh; else Unauthenticated.
    Cheap enough to run before the body is read."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if timestamp is None:
        raise Unauthenticated("no X-Slack-Request-Timestamp")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Unauthenticated("X-Slack-Request-Timestamp is not a number")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise Unauthenticated("X-Slack-Request-Timestamp is more than 5 minutes off")
    if signature is None:
        raise Unauthenticated("no X-Slack-Signature")
    if not _SIGNATURE.fullmatch(signature):
        raise Unauthenticated("X-Slack-Signature is not a v0 signature")
    return timestamp, signature


def verify_signature(secret: bytes, timestamp: str, signature: str, body: bytes) -> None:
    """Slack's v0 scheme on the raw bytes, compared in constant time; else Unauthenticated."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise Unauthenticated("bad signature")


def bolt_request(
    body: bytes, charset: str | None, query: str, headers: Mapping[str, str]
) -> AsyncBoltRequest:
    """Bolt's request for a verified body, or MalformedBody naming what is wrong with it.

    Slack sends UTF-8. Decoding strictly as UTF-8 also keeps the text Bolt re-verifies
    byte for byte the body we verified."""
    if charset is not None:
        try:
            name = codecs.lookup(charset).name
        except LookupError:
            raise MalformedBody("unknown charset in Content-Type") from None
        if name != "utf-8":
            raise MalformedBody("charset other than UTF-8 in Content-Type")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("body is not UTF-8") from None
    content_type = headers.get("Content-Type", "").partition(";")[0].strip().lower() or None
    # Bolt's own parser, so the rules are exactly the ones it applies next.
    try:
        parsed: object = parse_body(text, content_type)
    except RecursionError:
        raise MalformedBody("JSON nested too deeply") from None
    except ValueError:
        raise MalformedBody("not valid JSON") from None
    if not isinstance(parsed, dict):
        raise MalformedBody("JSON that is not an object")
    try:
        return AsyncBoltRequest(body=text, query=query, headers=headers)  # type: ignore[arg-type]
    except (TypeError, AttributeError, KeyError, IndexError, ValueError):
        # Bolt reads ids out of fixed places (team, user, channel...) and assumes their types.
        raise MalformedBody("fields of unexpected types") from None


class RateLimitedLog:
    """One warning line per `interval` about a kind of event, with a count of how many
    happened since the previous line; the rest are only counted."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        interval: float = REPORT_INTERVAL_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.logger = logger
        self.what = what
        self.interval = interval
        self.clock = clock
        self.count = 0
        self._last: float | None = None

    def note(self, detail: str) -> None:
        """Count one event; log if the last line is more than `interval` old.
        `detail` must be a fixed string of ours, never client data."""
        self.count += 1
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return
        self.logger.warning(
            "%s: %d since the last such line (latest: %s); at most one such line per %.0f s",
            self.what,
            self.count,
            detail,
            self.interval,
        )
        self._last = now
        self.count = 0


class ReadDeadline(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection and closes the connection when a
    request has not fully arrived (request line and headers) within `seconds` of the
    connection opening or of the first byte of the next request.

    aiohttp has no such deadline (only keepalive_timeout, which it also arms at
    connection start; partial requests after a keep-alive response are left to it).
    The application calls `request_started` and `request_finished` around each
    request; the body has its own deadline there."""

    def __init__(
        self, inner: asyncio.Protocol, seconds: float, on_expired: Callable[[], None]
    ) -> None:
        self.inner = inner
        self.seconds = seconds
        self.on_expired = on_expired
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._timer is None and not self._busy:
            self._arm()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._transport = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def request_started(self) -> None:
        """A complete request line and headers arrived: stop the clock."""
        self._busy = True
        self._disarm()

    def request_finished(self) -> None:
        """The request was handled: the next request's first byte starts the clock."""
        self._busy = False

    def _arm(self) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(self.seconds, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self.on_expired()
            self._transport.close()


def with_read_deadline(
    factory: Callable[[], asyncio.Protocol], seconds: float, on_expired: Callable[[], None]
) -> Callable[[], ReadDeadline]:
    """A protocol factory for loop.create_server: aiohttp's, each connection under a deadline."""
    return lambda: ReadDeadline(factory(), seconds, on_expired)


class AcceptFailures:
    """Reports accept() failing for lack of file descriptors (or buffers) through
    `report` instead of a traceback per attempt, while `installed`; everything else goes
    to the loop's previous exception handler.

    asyncio (3.11) removes the listener's reader and retries a second later, but does
    not stop its accept loop at the first failure: each round calls the handler once per
    listen backlog slot (2048 for us), each with a retry timer. That is where megabytes
    of tracebacks came from. Those timers also fire on a listener closed meanwhile, and
    fail on its closed socket: `stop_listening` and `settled` keep that quiet too."""

    def __init__(self, report: RateLimitedLog) -> None:
        self.report = report
        self._last_failure: float | None = None
        self._listener_closed = False

    @contextlib.contextmanager
    def installed(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """Handle the loop's exceptions while inside."""
        previous = loop.get_exception_handler()

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES:
                self._last_failure = loop.time()
                self.report.note(f"accept() failed: {errno.errorcode.get(exc.errno, exc.errno)}")
                return
            if (
                self._listener_closed
                and isinstance(exc, ValueError)
                and "._start_serving(" in str(context.get("message", ""))
            ):
                return  # a retry timer from before, on the listener we closed
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handle)
        try:
            yield
        finally:
            loop.set_exception_handler(previous)

    def stop_listening(self, listener: asyncio.Server) -> None:
        """Close `listener` (no new connections; open ones are left alone)."""
        self._listener_closed = True
        listener.close()

    async def settled(self) -> None:
        """Return once asyncio's retry timers from the last failure have fired (at most
        about a second, and only when accept() failed that recently). They cannot be
        observed or cancelled, only waited out."""
        if self._last_failure is None:
            return
        loop = asyncio.get_running_loop()
        remaining = self._last_failure + ACCEPT_RETRY_DELAY + 0.1 - loop.time()
        # Always a timer (sleep(0) is not one): the loop runs due timers in order of due
        # time, so ours runs after theirs even when theirs are overdue on a busy loop.
        await asyncio.sleep(max(remaining, 0.001))


class _ProtocolErrorsCounted(logging.Filter):
    """Turns aiohttp's traceback for a request it could not parse into a count."""

    def __init__(self, report: RateLimitedLog) -> None:
        super().__init__()
        self.report = report

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            self.report.note(type(exc).__name__)
            return False
        return True


@contextlib.contextmanager
def protocol_errors_reported(report: RateLimitedLog) -> Iterator[None]:
    """While inside, a request aiohttp cannot parse (header line too long, bad request
    line, bad chunked encoding...) is answered by aiohttp with 400 as before, but its
    traceback on the `aiohttp.server` logger becomes a count in `report`."""
    logger = logging.getLogger("aiohttp.server")
    quiet = _ProtocolErrorsCounted(report)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class Reports:
    """The rate-limited lines HTTP mode writes about what it turned away."""

    def __init__(self, logger: logging.Logger, clock: Clock = time.monotonic) -> None:
        self.rejected = RateLimitedLog(
            logger,
            "answered 401 to requests to /slack/events not signed with our signing secret"
            " (their bodies are not logged)",
            clock=clock,
        )
        self.slow = RateLimitedLog(
            logger,
            "closed connections that did not deliver a request within the read deadline",
            clock=clock,
        )
        self.malformed_http = RateLimitedLog(
            logger, "answered 400 to requests that are not valid HTTP", clock=clock
        )
        self.out_of_fds = RateLimitedLog(
            logger,
            "out of file descriptors: accept() failed, new connections wait in the backlog",
            clock=clock,
        )
