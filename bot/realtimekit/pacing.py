"""Pacing every call within RealtimeKit's published limit: 3,500 requests per 5 minutes.

One Pacer per client, so every call the bot makes counts (stops, status reads, list
pages, retries), not only those of a bulk action. It is per process: copies sharing
state each pace themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

# Cloudflare's RealtimeKit limits page: "All RealtimeKit APIs: 3,500 requests per five
# minutes". Module constants so that tests can shrink them before a client is built.
REQUESTS_PER_WINDOW = 3500
WINDOW_SECONDS = 300.0


class Pacer:
    """A sliding-window limiter: at most `limit` requests in any `window` seconds, and
    none at all while paused (after a 429)."""

    def __init__(
        self,
        limit: int | None = None,
        window: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = REQUESTS_PER_WINDOW if limit is None else limit
        self.window = WINDOW_SECONDS if window is None else window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._paused_until = 0.0

    def wait_time(self) -> float:
        """Seconds until a request may be sent (0: now)."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        full = self._sent[0] + self.window - now if len(self._sent) >= self.limit else 0.0
        return max(0.0, full, self._paused_until - now)

    async def acquire(self) -> None:
        """Wait for a slot in the window and take it (just before a request is sent)."""
        await self.ready()
        # No await between the check and the append: no other task can take this slot.
        self._sent.append(self._clock())

    async def ready(self) -> None:
        """Wait until a request could be sent, without taking the slot: a bulk action
        waits here, outside any one call's time budget."""
        # The wait is for time to pass (the window to slide), not for an event.
        while (wait := self.wait_time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (the API answered 429 with this Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
