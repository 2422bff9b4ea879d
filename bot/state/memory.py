"""State kept in this process's memory: the default, the store's fallback, and the
interface every State has (StoreState extends it).

Operations never raise because a store failed: they fall back to this process's
memory and say so, answering "local"."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from cachetools import TTLCache

from bot.access import RateLimit
from bot.cache import Cache

T = TypeVar("T")
V = TypeVar("V")

Status = Literal["shared", "local", "unavailable"]
"""What /healthz reports: "local" when no store is configured (one process, state in
memory, by design); "shared" when a store is configured and answering; "unavailable" when
a store is configured but not answering (every operation runs locally until it answers)."""

Where = Literal["shared", "local"]
"""Where one call was decided: "shared" through the store, "local" by this process alone
(no store configured, or the store down or failing during the call). For the audit line."""

DEDUP_SECONDS = 3600.0
SUMMARY_SECONDS = 3600.0
DEDUP_MAXSIZE = 100_000
SUMMARY_MAXSIZE = 1_000
KEPT_MAXSIZE = 10_000

log = logging.getLogger(__name__)


class Decision(NamedTuple, Generic[T]):
    """An operation's value and where it was decided; unpacks as `value, where`."""

    value: T
    where: Where


class Flight(NamedTuple, Generic[V]):
    """The outcome of `run_once`: the value, whether this caller joined a call someone
    else started (in this process or another), and where the call was coordinated."""

    value: V
    joined: bool
    where: Where


class MemoryState:
    """What must hold across every copy of the bot, here for one process: bounded
    caches, nothing to install."""

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
        # Each value carries its own expiry; a cache's ttl is only an upper bound.
        self._summaries: TTLCache[str, tuple[str, float]] = TTLCache(
            SUMMARY_MAXSIZE, 24 * 3600, timer=clock
        )
        self._kept: TTLCache[str, tuple[str, float]] = TTLCache(KEPT_MAXSIZE, 3600, timer=clock)

    @property
    def status(self) -> Status:
        """One of "local", "shared" or "unavailable": see `Status`."""
        return "local"

    async def first_time(self, *delivery_ids: str) -> Decision[bool]:
        """True unless any of these ids was seen in the last hour (by any copy); marks
        them all as seen. No ids: True."""
        fresh = not any(d in self._seen for d in delivery_ids)
        for delivery_id in delivery_ids:
            self._seen[delivery_id] = True
        return Decision(fresh, "local")

    async def run_once(
        self,
        key: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        decode: Callable[[str], V],
        *,
        lock_ttl: float,
    ) -> Flight[V]:
        """Run `work` unless a call for `key` is already under way somewhere, in which
        case wait for that call's value. `lock_ttl` (seconds) bounds how long a call may
        hold `key`: past it the holder is presumed dead and a waiter runs `work` itself.
        `decode(encode(v))` must give back an equal value (waiters in other copies get
        the value through the store as a string)."""
        joined = self._flights.running(key)
        if joined:
            log.info("%s is already under way in this process: sharing that call", key)
        # Within this process callers share one run, so only one talks to a store.
        flight: Flight[V] = await self._flights.load(
            key, lambda: self._run(key, work, encode, decode, lock_ttl)
        )
        return flight._replace(joined=True) if joined else flight

    async def _run(
        self,
        key: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        decode: Callable[[str], V],
        lock_ttl: float,
    ) -> Flight[V]:
        """One run of `work` for every caller in this process (StoreState: in every copy)."""
        return Flight(await work(), False, "local")

    async def take(self, user_id: str, per_minute: int) -> Decision[float | None]:
        """Count one action for `user_id` against `per_minute` in any 60 s (0: no
        limit); value None if allowed, else the seconds until it would be."""
        # One RateLimit keeps everyone's recent actions; the limit may change on reload.
        self._rate.per_minute = per_minute
        return Decision(self._rate.take(user_id), "local")

    async def remember(
        self, key: str, value: str, ttl: float, *, replace: bool = False
    ) -> Decision[str | None]:
        """Keep `value` under `key` for `ttl` seconds (by every copy; here at most an
        hour), unless a value is there already and not `replace`; value: the one that
        was there (None if none)."""
        now = self._clock()
        kept = self._kept.get(key)
        before = kept[0] if kept is not None and kept[1] > now else None
        if before is None or replace:
            self._kept[key] = (value, now + ttl)
        return Decision(before, "local")

    async def take_call(self, limit: int, window: float) -> Decision[float | None]:
        """Count one API request against `limit` in any `window` s, for every copy;
        value None if it may go now, else the seconds to wait (the window is full, or
        calls are paused), and then nothing is counted."""
        paused = self._paused_until - self._clock()
        if paused > 0:
            return Decision(paused, "local")
        if (self._calls.per_minute, self._calls.window) != (limit, window):
            self._calls = RateLimit(limit, self._clock, window)
        return Decision(self._calls.take("api"), "local")

    async def pause_calls(self, seconds: float) -> Where:
        """Let no copy send an API request for `seconds` (a 429's Retry-After); a
        longer pause already set stays."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        return "local"

    async def begin_batch(self, batch_id: str, ttl: float) -> Decision[str | None]:
        """Claim the one batch slot for `ttl` seconds; value None if ours, else the id
        of the batch already running."""
        now = self._clock()
        if self._batch is not None and self._batch[1] > now and self._batch[0] != batch_id:
            return Decision(self._batch[0], "local")
        self._batch = (batch_id, now + ttl)
        return Decision(None, "local")

    async def end_batch(self, batch_id: str) -> Where:
        """Release the batch slot, if `batch_id` still holds it."""
        if self._batch is not None and self._batch[0] == batch_id:
            self._batch = None
        return "local"

    async def set_batch_summary(
        self, batch_id: str, summary: str, ttl: float = SUMMARY_SECONDS
    ) -> Where:
        """Keep a batch's summary (e.g. JSON) for `ttl` seconds."""
        self._summaries[batch_id] = (summary, self._clock() + ttl)
        return "local"

    async def get_batch_summary(self, batch_id: str) -> Decision[str | None]:
        """A batch's summary, if one was kept and has not expired."""
        kept = self._summaries.get(batch_id)
        if kept is None or kept[1] <= self._clock():
            return Decision(None, "local")
        return Decision(kept[0], "local")

    async def aclose(self) -> None:
        """Stop background work and close connections (here: nothing to close)."""
