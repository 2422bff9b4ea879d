"""The one cache: values kept for a while, each with its own lifetime, and concurrent
loads of one key sharing one run (single flight)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TLRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Cache(Generic[K, V]):
    """Loaded values kept `ttl` seconds (a number, or a function of the value: 0 keeps
    it not at all, e.g. a failure not worth remembering); exceptions are never kept."""

    def __init__(
        self,
        ttl: float | Callable[[V], float],
        maxsize: int = 10_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        lifetime = ttl if callable(ttl) else (lambda _: ttl)
        self._kept: TLRUCache[K, V] = TLRUCache(
            maxsize, ttu=lambda _, value, now: now + lifetime(value), timer=timer
        )
        self._running: dict[K, asyncio.Future[V]] = {}

    def __contains__(self, key: K) -> bool:
        return key in self._kept

    def get(self, key: K) -> V | None:
        """The value kept for `key`, without loading it (None if none)."""
        return self._kept.get(key)

    def running(self, key: K) -> bool:
        """True while a load of `key` is under way."""
        return key in self._running

    def load(
        self, key: K, work: Callable[[], Awaitable[V]], *, fresh: bool = False
    ) -> asyncio.Future[V]:
        """The value kept for `key` (unless `fresh`), else the shared run of `work()`,
        started if none is under way; its value is kept. Cancelling one caller's wait
        does not cancel the work the others share."""
        if not fresh and key in self._kept:
            done: asyncio.Future[V] = asyncio.get_running_loop().create_future()
            done.set_result(self._kept[key])
            return done
        pending = self._running.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fill(key, work))
            self._running[key] = pending
            pending.add_done_callback(lambda _: self._running.pop(key, None))
        return asyncio.shield(pending)

    async def _fill(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        value = await work()
        self._kept[key] = value
        return value
