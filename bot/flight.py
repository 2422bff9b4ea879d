"""Single flight: concurrent callers asking for the same key share one run of the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """While work for a key runs, later calls for that key await the same result."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    def running(self, key: K) -> bool:
        """True while work for `key` is under way."""
        return key in self._running

    def run(self, key: K, work: Callable[[], Awaitable[V]]) -> asyncio.Future[V]:
        """The shared result for `key`, starting `work()` if none is running. Cancelling
        one caller's wait does not cancel the work the others share."""
        pending = self._running.get(key)
        if pending is None:
            pending = asyncio.ensure_future(work())
            self._running[key] = pending
            pending.add_done_callback(lambda _: self._running.pop(key, None))
        return asyncio.shield(pending)
