"""The connection to Valkey/Redis: short timeouts, and a fallback when it fails.

The store is a helper, never a gate: every call has a short timeout; when the store
does not answer, `shared` gives None (the caller decides locally), a warning is logged
at most once a minute, and a background probe PINGs the store until it answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as BrokenConnection
from redis.exceptions import RedisError

from bot import metrics
from bot.state.memory import Decision

log = logging.getLogger("bot.state.store")

T = TypeVar("T")

STORE_ERRORS: Final = (RedisError, OSError, TimeoutError)
SCHEMES: Final = ("redis", "rediss", "unix")
WARN_EVERY_SECONDS = 60.0
MAX_CALLS = 10  # store calls in flight at once (not counting waiters' subscriptions)


def describe(url: str) -> str:
    """Where a store URL points, for logs: scheme, host and port, never a password.
    Raises ValueError (naming no part of the URL) unless it is redis://, rediss:// or
    unix://."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("STATE_URL is not a valid URL") from None
    if parts.scheme not in SCHEMES:
        raise ValueError("STATE_URL must start with redis://, rediss:// or unix://")
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{port or 6379}"


def ms(seconds: float) -> int:
    """`seconds` as whole milliseconds, at least 1 (the store's PX)."""
    return max(1, round(seconds * 1000))


class Store:
    """One store's client, whether it answers, and keys under one prefix."""

    def __init__(self, url: str, prefix: str, call_timeout: float, probe_every: float) -> None:
        self.label = describe(url)
        # One immediate retry on a broken connection (a pooled socket to a store that
        # has since restarted), none on a timeout: that would double what a hung store
        # can cost a stop.
        self.redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=call_timeout,
            socket_connect_timeout=call_timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(BrokenConnection,)),
            # Resolved once here: by default every new connection reads the package
            # metadata for CLIENT SETINFO (~3 ms of CPU each; a burst opens dozens).
            driver_info=DriverInfo(),
        )
        self.timeout = call_timeout
        self.up = False
        self._prefix = prefix
        self._probe_every = probe_every
        self._calls = asyncio.Semaphore(MAX_CALLS)
        self._probing: asyncio.Task[None] | None = None
        self._warned_at: float | None = None

    def key(self, *parts: str) -> str:
        """The store key for `parts`, under this app's prefix."""
        return self._prefix + ":".join(parts)

    async def start(self) -> None:
        """First contact: a PING. If it fails, warn and keep trying in the background."""
        if await self._ping():
            self.up = True
            log.info("sharing state on %s", self.label)
        else:
            self.failed("no answer to PING")

    async def aclose(self) -> None:
        """Stop probing and close the connections."""
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
        await self.redis.aclose()

    async def _ping(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.ping()
        except STORE_ERRORS:
            return False
        return True

    def failed(self, error: BaseException | str) -> None:
        """Go local, warn (at most once a minute) and probe until the store answers."""
        metrics.STATE_ERRORS.inc()
        self.up = False
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            log.warning(
                "state store %s unavailable (%s): running locally until it answers again",
                self.label,
                reason,
            )
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._probe())

    async def _probe(self) -> None:
        while not self.up:
            await asyncio.sleep(self._probe_every)
            if await self._ping():
                self.up = True
                log.info("state store %s answers again: sharing state", self.label)

    async def shared(
        self, call: Callable[[], Awaitable[T]], *, always: bool = False
    ) -> Decision[T] | None:
        """The store's answer to `call`, or None when it is down or fails now. `always`
        tries a store thought down (a holder's lock there outlives a stall)."""
        if not (self.up or always):
            return None
        # A burst's calls queue here, over a few connections, instead of each opening
        # its own (a connection costs more than a call: 100 stops at once took ~0.3 s
        # of the loop that way, ~0.05 s queued). The wait is not the store's fault, so
        # it is outside the timeout; the store may have failed meanwhile.
        async with self._calls:
            if not (self.up or always):
                return None
            try:
                async with asyncio.timeout(self.timeout):
                    value = await call()
            except STORE_ERRORS as error:
                self.failed(error)
                return None
        return Decision(value, "shared")
