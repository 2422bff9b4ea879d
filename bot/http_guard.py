"""HTTP mode's front door (wired by bot.server): Slack's signature checked on the raw
bytes before anything parses them (else 401, nothing logged), read deadlines, 503 once
stopping; refusals, slow clients, bad HTTP and running out of file descriptors reported
in one line a minute each, with a count, never a traceback."""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import time
from asyncio.constants import ACCEPT_RETRY_DELAY
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)
Clock = Callable[[], float]

_TIMESTAMP, _SIGNATURE = re.compile(r"[0-9]{1,12}"), re.compile(r"v0=[0-9a-f]{64}")
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Report:
    """One warning line a minute about one kind of event, with how many happened since."""

    def __init__(self, what: str, clock: Clock) -> None:
        self.what, self.clock, self.count, self.last = what, clock, 0, -float("inf")

    def note(self, latest: str) -> None:
        """Count one event; `latest` is a fixed string of ours, never client data."""
        self.count += 1
        if self.clock() - self.last >= 60:
            log.warning("%s: %d since the last such line (latest: %s); at most one such line per 60 s", self.what, self.count, latest)  # fmt: skip
            self.last, self.count = self.clock(), 0


class Guard:
    """The checks and reports of one HTTP server; once `stop` is set, every answer is 503."""

    def __init__(self, secret: str, stop: asyncio.Event, read_timeout: float, clock: Clock):
        self.verifier, self.stop, self.read_timeout = SignatureVerifier(secret), stop, read_timeout
        self.rejected = Report("answered 401 to requests to /slack/events not signed with our signing secret (their bodies are not logged)", clock)  # fmt: skip
        self.slow = Report("closed connections that did not deliver a request within the read deadline", clock)  # fmt: skip
        self.unparsable = Report("answered 400 to requests that are not valid HTTP", clock)
        self.out_of_fds = Report("out of file descriptors: accept() failed, new connections wait in the backlog", clock)  # fmt: skip
        self.settled_at = 0.0  # the loop's time when accept()'s retry timers have all fired

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """503 once stopping (load balancers drain); the read deadline paused meanwhile."""
        protocol = request.transport.get_protocol() if request.transport else None
        if isinstance(protocol, ReadDeadline):
            protocol.busy(True)
        try:
            return _closing(503) if self.stop.is_set() else await handler(request)
        finally:
            if isinstance(protocol, ReadDeadline):
                protocol.busy(False)

    async def verified(self, request: web.Request) -> str | web.Response:
        """The body, if Slack signed it with our secret (else the answer to give)."""
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (timestamp and _TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
            return self._refuse("no X-Slack-Request-Timestamp" if timestamp is None else "malformed signature headers")  # fmt: skip
        if abs(time.time() - int(timestamp)) > 60 * 5:  # a wrong clock, named, before the body
            return self._refuse("X-Slack-Request-Timestamp is more than 5 minutes off")
        try:
            async with asyncio.timeout(self.read_timeout):  # strict UTF-8: same bytes again
                text = (await request.read()).decode("utf-8")
        except TimeoutError:
            self.slow.note("request body")
            return _closing(408)
        except (HttpProcessingError, ConnectionError):
            return self._refuse("body could not be read")
        except UnicodeDecodeError:  # SignatureVerifier only verifies text
            return self._refuse("body is not UTF-8, so its signature cannot be checked")
        return text if self.verifier.is_valid(text, timestamp, signature) else self._refuse("bad signature")  # fmt: skip

    def _refuse(self, reason: str) -> web.Response:
        self.rejected.note(reason)
        return web.Response(status=401)

    def quiet(self, record: logging.LogRecord) -> bool:
        """Filters aiohttp.server: HTTP it could not parse (answered 400) is a count."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            self.unparsable.note(type(exc).__name__)
        return not isinstance(exc, HttpProcessingError)

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> bool:
        """Whether a loop exception is ours: accept() out of descriptors, reported once per
        backlog slot a round, each with a retry timer that fails on a listener closed since."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES:
            self.settled_at = loop.time() + ACCEPT_RETRY_DELAY + 0.1
            self.out_of_fds.note(f"accept() failed: {errno.errorcode.get(exc.errno, '?')}")
            return True
        return isinstance(exc, ValueError) and "._start_serving(" in context.get("message", "")

    async def settled(self) -> None:
        """Once those retry timers (not cancellable) fired; a timer runs after due ones."""
        if self.settled_at:
            await asyncio.sleep(max(self.settled_at - asyncio.get_running_loop().time(), 0.001))


class ReadDeadline:
    """aiohttp's protocol for one connection, closed if a request line and headers do not
    arrive within `seconds` of it opening or of the next request's first byte."""

    def __init__(self, inner: RequestHandler, seconds: float, report: Report) -> None:
        self.inner, self.seconds, self.report = inner, seconds, report
        self.timer: asyncio.TimerHandle | None = None
        self.handling = False

    def __getattr__(self, name: str) -> Any:  # connection_lost, eof_received, pause_writing...
        return getattr(self.inner, name)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)
        self.timer = asyncio.get_running_loop().call_later(self.seconds, self._expire)

    def data_received(self, data: bytes) -> None:
        if self.timer is None and not self.handling:
            self.timer = asyncio.get_running_loop().call_later(self.seconds, self._expire)
        self.inner.data_received(data)

    def busy(self, handling: bool) -> None:
        """A request arrived (stop the clock) or was answered (the next byte starts it)."""
        if self.timer is not None:
            self.timer.cancel()
        self.handling, self.timer = handling, None

    def _expire(self) -> None:
        if self.inner.transport is not None and not self.inner.transport.is_closing():
            self.report.note("request line and headers")
            self.inner.transport.close()


def _closing(status: int) -> web.Response:
    response = web.Response(status=status)
    response.force_close()
    return response
