"""State on Valkey/Redis, shared by every copy of the bot.

The store is a helper, never a gate: every call has a short timeout, and when the
store does not answer the call is decided by this process's memory (and says so with
`where="local"`), a warning is logged at most once a minute, and a background probe
PINGs the store until it answers, after which it is used again. One exception: a copy
waiting on another's call (run_once) waits out that call's lock first, as the other copy
may be calling the API through the stall."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as BrokenConnection
from redis.exceptions import RedisError

from bot import metrics
from bot.cache import Cache
from bot.state import scripts
from bot.state.interface import (
    DEDUP_SECONDS,
    SUMMARY_SECONDS,
    Decision,
    Flight,
    Status,
    V,
    Where,
)
from bot.state.memory import MemoryState

log = logging.getLogger(__name__)

T = TypeVar("T")

STORE_ERRORS: Final = (RedisError, OSError, TimeoutError)
SCHEMES: Final = ("redis", "rediss", "unix")
WARN_EVERY_SECONDS = 60.0
RESULT_SECONDS = 60.0  # how long a finished call's value waits for slow waiters
MAX_POLL_SECONDS = 0.25  # a waiter re-reads the lock at least this often (pub/sub may miss)
MAX_ROUNDS = 8  # holders that die one after another: then run the work here
MAX_CALLS = 10  # store calls in flight at once (not counting waiters' subscriptions)


class _Gone(enum.Enum):
    """Why a waiter stopped waiting without a value."""

    MOVED_ON = "the holder released or lost the lock without a value"
    DOWN = "the store failed"


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


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class StoreState:
    """Shared state on Valkey/Redis with a fallback to memory. Build it with
    `bot.state.open_state`, which also makes the first contact."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        dedup_ttl: float = DEDUP_SECONDS,
        call_timeout: float = 0.5,
        probe_every: float = 2.0,
    ) -> None:
        self._label = describe(url)
        # One immediate retry on a broken connection (a pooled socket to a store that
        # has since restarted), none on a timeout: that would double what a hung store
        # can cost a stop.
        self._redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=call_timeout,
            socket_connect_timeout=call_timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(BrokenConnection,)),
            # Resolved once here: by default every new connection reads the package
            # metadata for CLIENT SETINFO (~3 ms of CPU each; a burst opens dozens).
            driver_info=DriverInfo(),
        )
        self._prefix = prefix
        self._timeout = call_timeout
        self._dedup_ms = _ms(dedup_ttl)
        self._probe_every = probe_every
        self._memory = MemoryState(dedup_ttl)
        self._flights: Cache[str, Flight[Any]] = Cache(0)  # shared, never kept
        self._calls = asyncio.Semaphore(MAX_CALLS)
        self._up = False
        self._probing: asyncio.Task[None] | None = None
        self._warned_at: float | None = None
        script = self._redis.register_script
        self._first_time = script(scripts.FIRST_TIME)
        self._acquire = script(scripts.ACQUIRE)
        self._peek = script(scripts.PEEK)
        self._renew_lock = script(scripts.RENEW)
        self._finish = script(scripts.FINISH)
        self._release = script(scripts.RELEASE)
        self._take = script(scripts.TAKE)
        self._pause = script(scripts.PAUSE)
        self._begin_batch = script(scripts.BEGIN_BATCH)
        self._end_batch = script(scripts.END_BATCH)

    @property
    def status(self) -> Status:
        """Either "shared" while the store answers, or "unavailable" while it does not."""
        return "shared" if self._up else "unavailable"

    @property
    def _where(self) -> Where:
        return "shared" if self._up else "local"

    async def start(self) -> None:
        """First contact: a PING. If it fails, warn and keep trying in the background."""
        if await self._ping():
            self._up = True
            log.info("sharing state on %s", self._label)
        else:
            self._failed("no answer to PING")

    async def aclose(self) -> None:
        """Stop probing and close the connections."""
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
        await self._redis.aclose()

    # ------------------------------------------------------------------ health

    async def _ping(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()
        except STORE_ERRORS:
            return False
        return True

    def _failed(self, error: BaseException | str) -> None:
        """Go local, warn (at most once a minute) and probe until the store answers."""
        metrics.STATE_ERRORS.inc()
        self._up = False
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            log.warning(
                "state store %s unavailable (%s): running locally until it answers again",
                self._label,
                reason,
            )
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._probe())

    async def _probe(self) -> None:
        while not self._up:
            await asyncio.sleep(self._probe_every)
            if await self._ping():
                self._up = True
                log.info("state store %s answers again: sharing state", self._label)

    async def _shared(
        self, call: Callable[[], Awaitable[T]], *, always: bool = False
    ) -> Decision[T] | None:
        """The store's answer to `call`, or None when it is down or fails now. `always`
        tries a store thought down (a holder's lock there outlives a stall)."""
        if not (self._up or always):
            return None
        # A burst's calls queue here, over a few connections, instead of each opening
        # its own (a connection costs more than a call: 100 stops at once took ~0.3 s
        # of the loop that way, ~0.05 s queued). The wait is not the store's fault, so
        # it is outside the timeout; the store may have failed meanwhile.
        async with self._calls:
            if not (self._up or always):
                return None
            try:
                async with asyncio.timeout(self._timeout):
                    value = await call()
            except STORE_ERRORS as error:
                self._failed(error)
                return None
        return Decision(value, "shared")

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    # -------------------------------------------------------------- operations

    async def first_time(self, *delivery_ids: str) -> Decision[bool]:
        """SET NX per id across copies; ids are also remembered here for a fallback."""
        fresh_here = self._memory.mark_seen(delivery_ids)
        if not delivery_ids:
            return Decision(True, self._where)
        keys = [self._key("seen", d) for d in delivery_ids]
        got = await self._shared(lambda: self._first_time(keys=keys, args=[self._dedup_ms]))
        if got is None:
            return Decision(fresh_here, "local")
        return Decision(int(got.value) == 1, "shared")

    async def take(self, user_id: str, per_minute: int) -> Decision[float | None]:
        """A sliding 60 s window per person on the store's clock (a sorted set)."""
        if per_minute <= 0:
            return Decision(None, self._where)
        got = await self._shared(
            lambda: self._take(
                keys=[self._key("rate", user_id)], args=[per_minute, 60_000, uuid.uuid4().hex]
            )
        )
        if got is None:
            return Decision(self._memory.take_now(user_id, per_minute), "local")
        wait_ms = int(got.value)
        return Decision(None if wait_ms < 0 else wait_ms / 1000, "shared")

    async def remember(
        self, key: str, value: str, ttl: float, *, replace: bool = False
    ) -> Decision[str | None]:
        """One SET (NX unless `replace`) GET across copies; kept here too for a fallback."""
        here = self._memory.remember_now(key, value, ttl, replace)
        name = self._key("kept", key)
        got = await self._shared(
            lambda: self._redis.set(name, value, px=_ms(ttl), nx=not replace, get=True)
        )
        if got is None:
            return Decision(here, "local")
        return Decision(None if got.value is None else str(got.value), "shared")

    async def take_call(self, limit: int, window: float) -> Decision[float | None]:
        """One sliding window of API requests for every copy, and the pause that closes
        it; this process's own while the store is down."""
        keys = [self._key("api"), self._key("api-paused")]
        got = await self._shared(
            lambda: self._take(keys=keys, args=[limit, _ms(window), uuid.uuid4().hex])
        )
        if got is None:
            return Decision(self._memory.take_call_now(limit, window), "local")
        wait_ms = int(got.value)
        return Decision(None if wait_ms < 0 else wait_ms / 1000, "shared")

    async def pause_calls(self, seconds: float) -> Where:
        """Pause every copy's API requests (and this one's, should the store fail)."""
        await self._memory.pause_calls(seconds)
        key = self._key("api-paused")
        got = await self._shared(lambda: self._pause(keys=[key], args=[_ms(seconds)]))
        return "local" if got is None else "shared"

    async def begin_batch(self, batch_id: str, ttl: float) -> Decision[str | None]:
        """Claim the app's one batch slot for `ttl` seconds."""
        got = await self._shared(
            lambda: self._begin_batch(keys=[self._key("batch")], args=[batch_id, _ms(ttl)])
        )
        if got is None:
            return await self._memory.begin_batch(batch_id, ttl)
        return Decision(None if got.value is None else str(got.value), "shared")

    async def end_batch(self, batch_id: str) -> Where:
        """Release the slot if `batch_id` holds it (here and in the store)."""
        await self._memory.end_batch(batch_id)
        got = await self._shared(
            lambda: self._end_batch(keys=[self._key("batch")], args=[batch_id])
        )
        return "local" if got is None else "shared"

    async def set_batch_summary(
        self, batch_id: str, summary: str, ttl: float = SUMMARY_SECONDS
    ) -> Where:
        """Keep the summary in the store, and here for a fallback."""
        await self._memory.set_batch_summary(batch_id, summary, ttl)
        key = self._key("batch-summary", batch_id)
        got = await self._shared(lambda: self._redis.set(key, summary, px=_ms(ttl)))
        return "local" if got is None else "shared"

    async def get_batch_summary(self, batch_id: str) -> Decision[str | None]:
        """The summary any copy kept."""
        got = await self._shared(lambda: self._redis.get(self._key("batch-summary", batch_id)))
        if got is None:
            return await self._memory.get_batch_summary(batch_id)
        return Decision(None if got.value is None else str(got.value), "shared")

    # ---------------------------------------------------------------- run_once

    async def run_once(
        self,
        key: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        decode: Callable[[str], V],
        *,
        lock_ttl: float,
    ) -> Flight[V]:
        """One call per key across copies: the first takes a fenced lock and runs
        `work`; the others wait for its value (pub/sub, re-reading the lock at least
        every MAX_POLL_SECONDS) and take the lock themselves once it expires."""
        joined = self._flights.running(key)
        if joined:
            log.info("%s is already under way in this process: sharing that call", key)

        async def coordinate() -> Flight[Any]:
            return await self._coordinate(key, work, encode, decode, lock_ttl)

        # Within this process callers share one future, so only one talks to the store.
        flight: Flight[V] = await self._flights.load(key, coordinate)
        return flight._replace(joined=True) if joined else flight

    async def _coordinate(
        self,
        key: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        decode: Callable[[str], V],
        lock_ttl: float,
    ) -> Flight[V]:
        lock = self._key("lock", key)
        fence = self._key("fence")
        for _ in range(MAX_ROUNDS):
            got = await self._shared(
                lambda: self._acquire(keys=[lock, fence], args=[_ms(lock_ttl)])
            )
            if got is None:
                break
            mine, token = int(got.value[0]) == 1, str(got.value[1])
            if mine:
                return await self._hold(key, token, work, encode, lock_ttl)
            payload = await self._wait(key, token, lock_ttl)
            if payload is _Gone.DOWN:
                break
            if isinstance(payload, str):
                return Flight(decode(payload), True, "shared")
        else:
            log.warning("calls for %s kept failing elsewhere: running it here", key)
        return Flight(await work(), False, "local")

    async def _hold(
        self,
        key: str,
        token: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        lock_ttl: float,
    ) -> Flight[V]:
        """Run `work` under the lock, renewed while it runs (a stop may wait its turn for
        the API longer than `lock_ttl`), then publish its value only if still the holder."""
        lock, channel = self._key("lock", key), self._key("done", key)
        renewing = asyncio.ensure_future(self._renew(lock, token, lock_ttl))
        try:
            value = await work()
            payload = encode(value)
        except BaseException:
            # Let waiters take over now rather than at the lock's expiry.
            await self._shared(
                lambda: self._release(keys=[lock], args=[token, channel]), always=True
            )
            raise
        finally:
            renewing.cancel()
        result = self._key("result", key, token)
        got = await self._shared(
            lambda: self._finish(
                keys=[lock, result], args=[token, payload, _ms(RESULT_SECONDS), channel]
            ),
            always=True,
        )
        if got is None:
            # The lock stays until it expires: waiters elsewhere then run the work.
            return Flight(value, False, "local")
        if int(got.value) != 1:
            log.warning("the call for %s outlived its lock: its value was not shared", key)
        return Flight(value, False, "shared")

    async def _renew(self, lock: str, token: str, lock_ttl: float) -> None:
        """Keep `lock` while its holder lives: a holder that stops renewing (killed) is
        presumed dead once `lock_ttl` has passed."""
        args: list[str | int] = [token, _ms(lock_ttl)]
        while True:
            await asyncio.sleep(lock_ttl / 3)
            await self._shared(lambda: self._renew_lock(keys=[lock], args=args), always=True)

    async def _wait(self, key: str, token: str, lock_ttl: float) -> str | _Gone:
        """The value published under `token`, or why there will be none. The holder may
        be calling the API through a store stall: store errors end the wait only once its
        lock has run out (by the last PTTL read, or `lock_ttl` from now)."""
        lock, channel = self._key("lock", key), self._key("done", key)
        result = self._key("result", key, token)
        loop = asyncio.get_running_loop()
        expires = loop.time() + lock_ttl
        while True:
            pubsub = self._redis.pubsub()
            try:
                async with asyncio.timeout(self._timeout):
                    await pubsub.subscribe(channel)
                while True:
                    # Read after subscribing, so a value published in between is not missed.
                    async with asyncio.timeout(self._timeout):
                        payload, holder, pttl = await self._peek(keys=[result, lock])
                    if payload is not None:
                        return str(payload)
                    if holder != token:
                        return _Gone.MOVED_ON
                    expires = loop.time() + int(pttl) / 1000
                    wait = min(max(int(pttl), 1) / 1000, MAX_POLL_SECONDS)
                    async with asyncio.timeout(wait + self._timeout):
                        await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            except STORE_ERRORS as error:
                self._failed(error)
            finally:
                with contextlib.suppress(*STORE_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if loop.time() >= expires:
                return _Gone.DOWN
            await asyncio.sleep(min(MAX_POLL_SECONDS, expires - loop.time()))
