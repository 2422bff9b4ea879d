"""State kept in this process's memory: the embedded default, and the store's fallback."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TTLCache

from bot.access import RateLimit
from bot.cache import Cache
from bot.state.interface import (
    DEDUP_SECONDS,
    SUMMARY_SECONDS,
    Decision,
    Flight,
    Status,
    V,
    Where,
)

DEDUP_MAXSIZE = 100_000
SUMMARY_MAXSIZE = 1_000
KEPT_MAXSIZE = 10_000

log = logging.getLogger(__name__)


class MemoryState:
    """One process, state in memory: bounded caches, nothing to install."""

    def __init__(
        self, dedup_ttl: float = DEDUP_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._seen: TTLCache[str, bool] = TTLCache(DEDUP_MAXSIZE, dedup_ttl, timer=clock)
        self._flights: Cache[str, Flight[Any]] = Cache(0)  # shared, never kept
        self._rate = RateLimit(0, clock)
        self._calls = RateLimit(0, clock)  # API requests: one window for the process
        self._paused_until = 0.0
        self._batch: tuple[str, float] | None = None
        # Each summary carries its own expiry; the cache's ttl is only an upper bound.
        self._summaries: TTLCache[str, tuple[str, float]] = TTLCache(
            SUMMARY_MAXSIZE, 24 * 3600, timer=clock
        )
        self._kept: TTLCache[str, tuple[str, float]] = TTLCache(KEPT_MAXSIZE, 3600, timer=clock)

    @property
    def status(self) -> Status:
        """Always "local": there is no store."""
        return "local"

    async def first_time(self, *delivery_ids: str) -> Decision[bool]:
        """True unless any id was seen within the de-dup window; marks them all."""
        return Decision(self.mark_seen(delivery_ids), "local")

    def mark_seen(self, delivery_ids: tuple[str, ...]) -> bool:
        """`first_time` without the await, for the store's write-through."""
        fresh = not any(d in self._seen for d in delivery_ids)
        for delivery_id in delivery_ids:
            self._seen[delivery_id] = True
        return fresh

    async def run_once(
        self,
        key: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        decode: Callable[[str], V],
        *,
        lock_ttl: float,
    ) -> Flight[V]:
        """Concurrent callers for `key` in this process share one run of `work`."""
        joined = self._flights.running(key)
        if joined:
            log.info("%s is already under way in this process: sharing that call", key)

        async def alone() -> Flight[Any]:
            return Flight(await work(), False, "local")

        flight: Flight[V] = await self._flights.load(key, alone)
        return flight._replace(joined=joined)

    async def take(self, user_id: str, per_minute: int) -> Decision[float | None]:
        """bot.access.RateLimit's sliding 60 s window, per person."""
        return Decision(self.take_now(user_id, per_minute), "local")

    def take_now(self, user_id: str, per_minute: int) -> float | None:
        """`take` without the await."""
        # One RateLimit keeps everyone's recent actions; the limit may change on reload.
        self._rate.per_minute = per_minute
        return self._rate.take(user_id)

    async def remember(
        self, key: str, value: str, ttl: float, *, replace: bool = False
    ) -> Decision[str | None]:
        """Keep `value` under `key` for `ttl` seconds (at most an hour) unless one is
        there and not `replace`; value: the one there before."""
        return Decision(self.remember_now(key, value, ttl, replace), "local")

    def remember_now(self, key: str, value: str, ttl: float, replace: bool) -> str | None:
        """`remember` without the await."""
        now = self._clock()
        kept = self._kept.get(key)
        before = kept[0] if kept is not None and kept[1] > now else None
        if before is None or replace:
            self._kept[key] = (value, now + ttl)
        return before

    async def take_call(self, limit: int, window: float) -> Decision[float | None]:
        """One sliding window of API requests for this process, closed while paused."""
        return Decision(self.take_call_now(limit, window), "local")

    def take_call_now(self, limit: int, window: float) -> float | None:
        """`take_call` without the await."""
        paused = self._paused_until - self._clock()
        if paused > 0:
            return paused
        if (self._calls.per_minute, self._calls.window) != (limit, window):
            self._calls = RateLimit(limit, self._clock, window)
        return self._calls.take("api")

    async def pause_calls(self, seconds: float) -> Where:
        """No API request from this process for `seconds`."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        return "local"

    async def begin_batch(self, batch_id: str, ttl: float) -> Decision[str | None]:
        """Claim the batch slot unless another batch holds it and has not expired."""
        now = self._clock()
        if self._batch is not None and self._batch[1] > now and self._batch[0] != batch_id:
            return Decision(self._batch[0], "local")
        self._batch = (batch_id, now + ttl)
        return Decision(None, "local")

    async def end_batch(self, batch_id: str) -> Where:
        """Release the batch slot if `batch_id` holds it."""
        if self._batch is not None and self._batch[0] == batch_id:
            self._batch = None
        return "local"

    async def set_batch_summary(
        self, batch_id: str, summary: str, ttl: float = SUMMARY_SECONDS
    ) -> Where:
        """Keep a batch's summary for `ttl` seconds."""
        self._summaries[batch_id] = (summary, self._clock() + ttl)
        return "local"

    async def get_batch_summary(self, batch_id: str) -> Decision[str | None]:
        """A batch's summary, if kept and not expired."""
        kept = self._summaries.get(batch_id)
        if kept is None or kept[1] <= self._clock():
            return Decision(None, "local")
        return Decision(kept[0], "local")

    async def aclose(self) -> None:
        """Nothing to close."""
