"""State on Valkey/Redis, shared by every copy of the bot: a MemoryState whose
operations are decided in the store while it answers (connection.py) and here, in
memory, while it does not (saying so with `where="local"`). One exception: a copy
waiting on another's call (run_once) waits out that call's lock first, as the other copy
may be calling the API through the stall."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable

from bot.state import scripts
from bot.state.connection import STORE_ERRORS, Store, ms
from bot.state.memory import (
    DEDUP_SECONDS,
    SUMMARY_SECONDS,
    Decision,
    Flight,
    MemoryState,
    Status,
    V,
    Where,
)

log = logging.getLogger(__name__)

RESULT_SECONDS = 60.0  # how long a finished call's value waits for slow waiters
MAX_POLL_SECONDS = 0.25  # a waiter re-reads the lock at least this often (pub/sub may miss)
MAX_ROUNDS = 8  # holders that die one after another: then run the work here


class _Gone(enum.Enum):
    """Why a waiter stopped waiting without a value."""

    MOVED_ON = "the holder released or lost the lock without a value"
    DOWN = "the store failed"


class StoreState(MemoryState):
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
        super().__init__(dedup_ttl)
        self._store = Store(url, prefix, call_timeout, probe_every)
        self._dedup_ms = ms(dedup_ttl)
        script = self._store.redis.register_script
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
        return "shared" if self._store.up else "unavailable"

    @property
    def _where(self) -> Where:
        return "shared" if self._store.up else "local"

    async def start(self) -> None:
        """First contact: a PING. If it fails, warn and keep trying in the background."""
        await self._store.start()

    async def aclose(self) -> None:
        """Stop probing and close the connections."""
        await self._store.aclose()

    # -------------------------------------------------------------- operations

    async def first_time(self, *delivery_ids: str) -> Decision[bool]:
        """SET NX per id across copies; ids are also remembered here for a fallback."""
        here = await super().first_time(*delivery_ids)
        if not delivery_ids:
            return Decision(True, self._where)
        keys = [self._store.key("seen", d) for d in delivery_ids]
        got = await self._store.shared(lambda: self._first_time(keys=keys, args=[self._dedup_ms]))
        return here if got is None else Decision(int(got.value) == 1, "shared")

    async def take(self, user_id: str, per_minute: int) -> Decision[float | None]:
        """A sliding 60 s window per person on the store's clock (a sorted set)."""
        if per_minute <= 0:
            return Decision(None, self._where)
        keys = [self._store.key("rate", user_id)]
        got = await self._store.shared(
            lambda: self._take(keys=keys, args=[per_minute, 60_000, uuid.uuid4().hex])
        )
        return await super().take(user_id, per_minute) if got is None else _taken(got.value)

    async def remember(
        self, key: str, value: str, ttl: float, *, replace: bool = False
    ) -> Decision[str | None]:
        """One SET (NX unless `replace`) GET across copies; kept here too for a fallback."""
        here = await super().remember(key, value, ttl, replace=replace)
        name = self._store.key("kept", key)
        got = await self._store.shared(
            lambda: self._store.redis.set(name, value, px=ms(ttl), nx=not replace, get=True)
        )
        return here if got is None else _text(got.value)

    async def take_call(self, limit: int, window: float) -> Decision[float | None]:
        """One sliding window of API requests for every copy, and the pause that closes
        it; this process's own while the store is down."""
        keys = [self._store.key("api"), self._store.key("api-paused")]
        got = await self._store.shared(
            lambda: self._take(keys=keys, args=[limit, ms(window), uuid.uuid4().hex])
        )
        return await super().take_call(limit, window) if got is None else _taken(got.value)

    async def pause_calls(self, seconds: float) -> Where:
        """Pause every copy's API requests (and this one's, should the store fail)."""
        await super().pause_calls(seconds)
        key = self._store.key("api-paused")
        got = await self._store.shared(lambda: self._pause(keys=[key], args=[ms(seconds)]))
        return "local" if got is None else "shared"

    async def begin_batch(self, batch_id: str, ttl: float) -> Decision[str | None]:
        """Claim the app's one batch slot for `ttl` seconds."""
        keys = [self._store.key("batch")]
        got = await self._store.shared(
            lambda: self._begin_batch(keys=keys, args=[batch_id, ms(ttl)])
        )
        return await super().begin_batch(batch_id, ttl) if got is None else _text(got.value)

    async def end_batch(self, batch_id: str) -> Where:
        """Release the slot if `batch_id` holds it (here and in the store)."""
        await super().end_batch(batch_id)
        keys = [self._store.key("batch")]
        got = await self._store.shared(lambda: self._end_batch(keys=keys, args=[batch_id]))
        return "local" if got is None else "shared"

    async def set_batch_summary(
        self, batch_id: str, summary: str, ttl: float = SUMMARY_SECONDS
    ) -> Where:
        """Keep the summary in the store, and here for a fallback."""
        await super().set_batch_summary(batch_id, summary, ttl)
        key = self._store.key("batch-summary", batch_id)
        got = await self._store.shared(lambda: self._store.redis.set(key, summary, px=ms(ttl)))
        return "local" if got is None else "shared"

    async def get_batch_summary(self, batch_id: str) -> Decision[str | None]:
        """The summary any copy kept."""
        key = self._store.key("batch-summary", batch_id)
        got = await self._store.shared(lambda: self._store.redis.get(key))
        return await super().get_batch_summary(batch_id) if got is None else _text(got.value)

    # ---------------------------------------------------------------- run_once

    async def _run(
        self,
        key: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        decode: Callable[[str], V],
        lock_ttl: float,
    ) -> Flight[V]:
        """One call per key across copies: the first takes a fenced lock and runs
        `work`; the others wait for its value (pub/sub, re-reading the lock at least
        every MAX_POLL_SECONDS) and take the lock themselves once it expires."""
        lock = self._store.key("lock", key)
        fence = self._store.key("fence")
        for _ in range(MAX_ROUNDS):
            got = await self._store.shared(
                lambda: self._acquire(keys=[lock, fence], args=[ms(lock_ttl)])
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
        lock, channel = self._store.key("lock", key), self._store.key("done", key)
        renewing = asyncio.ensure_future(self._renew(lock, token, lock_ttl))
        try:
            value = await work()
            payload = encode(value)
        except BaseException:
            # Let waiters take over now rather than at the lock's expiry.
            await self._store.shared(
                lambda: self._release(keys=[lock], args=[token, channel]), always=True
            )
            raise
        finally:
            renewing.cancel()
        result = self._store.key("result", key, token)
        got = await self._store.shared(
            lambda: self._finish(
                keys=[lock, result], args=[token, payload, ms(RESULT_SECONDS), channel]
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
        args: list[str | int] = [token, ms(lock_ttl)]
        while True:
            await asyncio.sleep(lock_ttl / 3)
            await self._store.shared(lambda: self._renew_lock(keys=[lock], args=args), always=True)

    async def _wait(self, key: str, token: str, lock_ttl: float) -> str | _Gone:
        """The value published under `token`, or why there will be none. The holder may
        be calling the API through a store stall: store errors end the wait only once its
        lock has run out (by the last PTTL read, or `lock_ttl` from now)."""
        lock, channel = self._store.key("lock", key), self._store.key("done", key)
        result = self._store.key("result", key, token)
        loop = asyncio.get_running_loop()
        expires = loop.time() + lock_ttl
        while True:
            pubsub = self._store.redis.pubsub()
            try:
                async with asyncio.timeout(self._store.timeout):
                    await pubsub.subscribe(channel)
                while True:
                    # Read after subscribing, so a value published in between is not missed.
                    async with asyncio.timeout(self._store.timeout):
                        payload, holder, pttl = await self._peek(keys=[result, lock])
                    if payload is not None:
                        return str(payload)
                    if holder != token:
                        return _Gone.MOVED_ON
                    expires = loop.time() + int(pttl) / 1000
                    wait = min(max(int(pttl), 1) / 1000, MAX_POLL_SECONDS)
                    async with asyncio.timeout(wait + self._store.timeout):
                        await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            except STORE_ERRORS as error:
                self._store.failed(error)
            finally:
                with contextlib.suppress(*STORE_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if loop.time() >= expires:
                return _Gone.DOWN
            await asyncio.sleep(min(MAX_POLL_SECONDS, expires - loop.time()))


def _taken(wait_ms: object) -> Decision[float | None]:
    """TAKE's answer: -1 when allowed, else milliseconds to wait."""
    wait = int(str(wait_ms))
    return Decision(None if wait < 0 else wait / 1000, "shared")


def _text(value: object) -> Decision[str | None]:
    """The store's string, or None."""
    return Decision(None if value is None else str(value), "shared")
