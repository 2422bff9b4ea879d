"""How the client sends a request (its turn, bounded retries, the call's budget); it
knows nothing of the endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from bot import metrics
from bot.env import Secret
from bot.realtimekit.parsing import parse_retry_after
from bot.realtimekit.results import (
    ApiError,
    Lost,
    NotSent,
    RateLimited,
    ReadFailure,
    StatusResult,
    StopResult,
    TimedOut,
    UnexpectedResponse,
    Unreachable,
)
from bot.realtimekit.transport import Answer, SplitPools, connect_reason
from bot.state import State

# An answer with one of these statuses may come after the API acted (a 504 from the
# edge while the stop went through): for a stop, it is checked, not retried blindly.
LOST_STATUSES = frozenset({502, 503, 504})

R = TypeVar("R")
# The budget of the public call under way in this task (see Calls.bounded).
_BUDGET: ContextVar[asyncio.Timeout | None] = ContextVar("budget", default=None)


@dataclass(kw_only=True)
class Calls:
    """Sends requests with a token, each in its turn, with bounded retries."""

    pools: SplitPools
    token: Secret
    state: State
    # Bounds calls in flight (Cloudflare's per-client limits), and keeps bursts out of
    # httpcore's queue.
    limit: asyncio.Semaphore
    timeout: float
    max_attempts: int
    backoff: float
    # A longer wait (a 429's Retry-After, the API budget) ends the request instead.
    max_retry_after: float = 5.0
    budget: float
    requests_per_window: int
    window_seconds: float
    max_pause: float
    # Requests waiting for their turn: told NotSent when this copy stops sending.
    _queued: set[asyncio.Timeout] = field(default_factory=set, init=False)
    _sending: bool = field(default=True, init=False)

    def stop_sending(self) -> None:
        """Requests waiting for their turn, and any made from now on, end as NotSent."""
        self._sending = False
        for queued in self._queued:
            queued.reschedule(0)

    async def bounded(self, call: Coroutine[Any, Any, R]) -> R | TimedOut:
        """`call`'s result, or TimedOut when it ends more than the budget after its
        first request went out (`_attempt` starts the clock)."""
        try:
            async with asyncio.timeout(None) as budget:
                token = _BUDGET.set(budget)
                try:
                    return await call
                finally:
                    _BUDGET.reset(token)
        except TimeoutError:
            return TimedOut(self.budget)

    async def send(self, method: str, path: str, *, idempotent: bool) -> Answer | ReadFailure:
        """Send with bounded retries: 429 when Retry-After is within the cap and, when
        the request is `idempotent`, lost answers (timeouts, resets, 502/503/504).
        Connect-phase failures are retried by the transport."""
        last: Answer | ReadFailure = Unreachable("network")
        for attempt in range(1, self.max_attempts + 1):
            wait = self.backoff * 2 ** (attempt - 1)
            last = await self._attempt(method, path)
            if isinstance(last, Answer):
                if last.too_large:
                    return UnexpectedResponse(last.status, too_large=True)
                if last.status == 429:
                    retry_after = parse_retry_after(last.headers.get("retry-after"))
                    wait = wait if retry_after is None else retry_after
                    # Over the limit every call is refused: hold them all, in every copy,
                    # not just this one.
                    await self.state.pause_calls(min(wait, self.max_pause))
                    if wait > self.max_retry_after:
                        return last  # the caller decides whether to wait (a batch does)
                elif not (idempotent and last.status in LOST_STATUSES):
                    return last
            elif not (idempotent and lost(last) is not None):
                return last
            if attempt < self.max_attempts:
                await asyncio.sleep(wait)
        return last

    async def _attempt(self, method: str, path: str) -> Answer | ReadFailure:
        """One request once it has its turn (a connection slot, then its place in the
        API's budget: queueing, counted by no timeout), then bounded as a whole by the
        timeout (not per socket read)."""
        if not self._sending:
            return NotSent()
        queued = asyncio.timeout(None)  # stop_sending expires it
        try:
            async with queued:
                self._queued.add(queued)
                async with self.limit:
                    wait = await self._pace()
                    self._queued.discard(queued)
                    if wait is not None:
                        return RateLimited(wait, sent=False)
                    budget = _BUDGET.get()
                    if budget is not None and budget.when() is None:
                        budget.reschedule(asyncio.get_running_loop().time() + self.budget)
                    async with asyncio.timeout(self.timeout):
                        with (
                            metrics.API_IN_FLIGHT.track_inprogress(),
                            metrics.API_SECONDS.labels(method).time(),
                        ):
                            return await self.pools.send(method, path, self.token)
        except httpx.ConnectTimeout:
            return Unreachable("connect_timeout")
        except httpx.ConnectError as error:
            return Unreachable(connect_reason(error))
        except (httpx.TimeoutException, TimeoutError):
            return NotSent() if queued.expired() else TimedOut(self.timeout)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            return Unreachable("reset")
        except httpx.HTTPError:
            return Unreachable("network")
        finally:
            self._queued.discard(queued)

    async def _pace(self) -> float | None:
        """Take this request's place in the API's budget, waiting up to max_retry_after
        for it; None once taken, else how long it would have to wait."""
        while True:
            wait, _ = await self.state.take_call(self.requests_per_window, self.window_seconds)
            if wait is None or wait > self.max_retry_after:
                return wait
            # The wait is for time to pass (the window to slide, a pause to end).
            await asyncio.sleep(wait)


def lost(result: StopResult | StatusResult) -> Lost | None:
    """`result` when it is an answer that may have come after the API acted."""
    match result:
        case TimedOut() | Unreachable(reason="reset"):
            return result
        case UnexpectedResponse(status=status) | ApiError(status=status) if status in LOST_STATUSES:
            return result
        case _:
            return None
