"""The RealtimeKit client: httpx, bounded retries, typed results (see results.py).

It knows HTTP and the API, nothing of Slack. A stop is POSTed again only when the
first POST cannot have taken effect, or when a status read after an answer that was
lost shows the stream is still live.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

import anyio
import anyio.lowlevel
import httpx

from bot import metrics
from bot.config import Secret, Settings
from bot.realtimekit.parsing import (
    Page,
    parse_livestream_page,
    parse_meeting_response,
    parse_retry_after,
    parse_status_response,
    parse_stop_response,
)
from bot.realtimekit.results import (
    ApiError,
    ListResult,
    LiveList,
    Livestream,
    Lost,
    MeetingId,
    MeetingResult,
    NoActiveLivestream,
    NotSent,
    RateLimited,
    ReadFailure,
    StatusResult,
    StopFailure,
    Stopped,
    StopResult,
    TimedOut,
    Unconfirmed,
    UnexpectedResponse,
    Unreachable,
)
from bot.realtimekit.transport import Answer, SplitPools, connect_reason
from bot.state import MemoryState, State

# Every public call (a stop, a status read, the list, a meeting read), retries and the
# checks after a lost answer included, ends within this many seconds of its first
# request going out: less than the shutdown grace (server.SHUTDOWN_GRACE_SECONDS), so a
# stop under way when the bot is told to stop still gets its answer and its audit line.
# Waiting for a turn before that (a connection slot, the API's budget) is queueing.
CALL_BUDGET_SECONDS = 20.0
# A 429's Retry-After pauses every copy's calls through the store: at most this long, so
# one odd header cannot silence the bot (and copies started later) for a day.
MAX_PAUSE_SECONDS = 600.0
# RealtimeKit's published limit, "All RealtimeKit APIs: 3,500 requests per five minutes",
# counted for every request (stops, reads, pages, retries) through one sliding window in
# State: every copy's when they share a store. Tests shrink them before building a client.
REQUESTS_PER_WINDOW = 3500
WINDOW_SECONDS = 300.0
# Pages of the livestream list: enough for any real app, bounded against a loop.
LIST_PAGE_SIZE = 100
LIST_MAX_PAGES = 50
# An answer with one of these statuses may come after the API acted (a 504 from the
# edge while the stop went through): for a stop, it is checked, not retried blindly.
_LOST_STATUSES = frozenset({502, 503, 504})


R = TypeVar("R")
# The budget of the public call under way in this task (see RealtimeKitClient._bounded).
_BUDGET: ContextVar[asyncio.Timeout | None] = ContextVar("budget", default=None)


class RealtimeKitClient:
    """Stops livestreams for one account and app, and reads their status."""

    def __init__(
        self,
        *,
        base_url: str,
        account_id: str,
        app_id: str,
        api_token: Secret,
        timeout: float = 10.0,
        max_concurrency: int = 50,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 5.0,
        budget: float | None = None,
        requests_per_window: int | None = None,
        window_seconds: float | None = None,
        state: State | None = None,
    ) -> None:
        self._account = f"/accounts/{account_id}"
        self._app = f"{self._account}/realtime/kit/{app_id}"
        self._token = api_token
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_retry_after = max_retry_after
        self._budget = CALL_BUDGET_SECONDS if budget is None else budget
        # Bounds calls in flight (Cloudflare's per-client limits), and keeps bursts out
        # of httpcore's queue.
        self._limit = asyncio.Semaphore(max_concurrency)
        self._pools = SplitPools(base_url, timeout, max_concurrency)
        # Every request counts against RealtimeKit's limit, in every copy sharing `state`.
        self._state: State = state or MemoryState()
        self._per_window = requests_per_window or REQUESTS_PER_WINDOW
        self._window = window_seconds or WINDOW_SECONDS
        # Requests waiting for their turn: told NotSent when this copy stops sending.
        self._queued: set[asyncio.Timeout] = set()
        self._sending = True

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RealtimeKitClient:
        """The client the settings describe; `overrides` replace keyword arguments."""
        options: dict[str, Any] = {
            "base_url": settings.cloudflare_api_base_url,
            "account_id": settings.cloudflare_account_id,
            "app_id": settings.realtimekit_app_id,
            "api_token": settings.cloudflare_api_token,
            "timeout": settings.cloudflare_timeout_seconds,
            "max_concurrency": settings.cloudflare_max_concurrency,
            "backoff": settings.cloudflare_retry_backoff_seconds,
        }
        return cls(**{**options, **overrides})

    async def warm(self) -> None:
        """Do now what the first stop would otherwise pay for: load anyio's asyncio
        backend (httpx loads it lazily, ~25 ms here) and resolve the API's host name
        (which also starts the resolver's worker thread)."""
        await anyio.lowlevel.checkpoint()
        url = self._pools.base_url
        port = url.port or (443 if url.scheme == "https" else 80)
        with contextlib.suppress(OSError, TimeoutError):  # the first stop will say what failed
            await asyncio.wait_for(anyio.getaddrinfo(url.host, port), 2.0)

    def stop_sending(self) -> None:
        """Send nothing more (the bot is shutting down): requests waiting for their turn,
        and any made from now on, end as NotSent; those already sent go on."""
        self._sending = False
        for queued in self._queued:
            queued.reschedule(0)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._pools.aclose()

    async def stop_livestream(self, meeting_id: MeetingId) -> StopResult:
        """Stop the active livestream of `meeting_id`, within CALL_BUDGET_SECONDS."""
        return await self._bounded(self._stop(meeting_id))

    async def _bounded(self, call: Coroutine[Any, Any, R]) -> R | TimedOut:
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
            return TimedOut(self._budget)

    async def _stop(self, meeting_id: MeetingId) -> StopResult:
        path = f"{self._app}/meetings/{meeting_id}/active-livestream/stop"
        result: StopResult = TimedOut(self._timeout)
        for attempt in range(1, self._max_attempts + 1):
            answer = await self._call("POST", path, idempotent=False)
            result = (
                parse_stop_response(answer.status, answer.headers, answer.body)
                if isinstance(answer, Answer)
                else answer
            )
            lost = _lost(result)
            if lost is None:
                return result
            # The stop may have gone through: ask before stopping again.
            check = await self._status(meeting_id)
            match check:
                case NoActiveLivestream():
                    return Stopped("", recovered_from=lost)
                case Livestream(status=status) if status != "LIVE":
                    return Stopped("", recovered_from=lost)
                case Livestream():
                    pass  # still live: the stop did not take effect; POST again
                case failure:
                    return Unconfirmed(lost, failure)
            if attempt < self._max_attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        return result

    async def get_active_livestream(self, meeting_id: MeetingId) -> StatusResult:
        """The active livestream of `meeting_id`: its status, without its credentials."""
        return await self._bounded(self._status(meeting_id))

    async def _status(self, meeting_id: MeetingId) -> StatusResult:
        path = f"{self._app}/meetings/{meeting_id}/active-livestream"
        answer = await self._call("GET", path, idempotent=True)
        if isinstance(answer, Answer):
            return parse_status_response(answer.status, answer.headers, answer.body)
        return answer

    async def list_live(self) -> ListResult:
        """Every LIVE livestream of the app, newest first, following every page. Once
        the first page gives the total, the other pages are read at once (a stop-all of
        1,000 streams read its 10 pages in 2 x D instead of 10 x D)."""
        return await self._bounded(self._list_live())

    async def _list_live(self) -> ListResult:
        first = await self._live_page(1)
        if not isinstance(first, Page):
            return first
        pages = [first]
        page_no = 1
        if first.more and first.total is not None:
            page_no = min(LIST_MAX_PAGES, -(-first.total // LIST_PAGE_SIZE))
            for page in await asyncio.gather(*map(self._live_page, range(2, page_no + 1))):
                if not isinstance(page, Page):
                    return page
                pages.append(page)
        # No total given, or the list grew meanwhile: follow `more` one page at a time.
        while pages[-1].more and page_no < LIST_MAX_PAGES:
            page_no += 1
            page = await self._live_page(page_no)
            if not isinstance(page, Page):
                return page
            pages.append(page)
        streams = [s for p in pages for s in p.streams if s.status in ("", "LIVE")]
        unique = {s.meeting_id: s for s in reversed(streams)}  # one row per meeting
        newest = sorted(unique.values(), key=lambda s: s.created_at or "", reverse=True)
        return LiveList(tuple(newest))

    async def _live_page(self, page_no: int) -> Page | ReadFailure:
        path = (
            f"{self._app}/livestreams?status=LIVE&sort_order=DSC"
            f"&per_page={LIST_PAGE_SIZE}&page_no={page_no}"
        )
        answer = await self._call("GET", path, idempotent=True)
        if not isinstance(answer, Answer):
            return answer
        return parse_livestream_page(answer.status, answer.headers, answer.body)

    async def get_meeting(self, meeting_id: MeetingId) -> MeetingResult:
        """The meeting itself (its title)."""
        return await self._bounded(self._meeting(meeting_id))

    async def _meeting(self, meeting_id: MeetingId) -> MeetingResult:
        answer = await self._call("GET", f"{self._app}/meetings/{meeting_id}", idempotent=True)
        if isinstance(answer, Answer):
            return parse_meeting_response(answer.status, answer.headers, answer.body)
        return answer

    async def verify_token(self, owner: Literal["account", "user"]) -> Answer | StopFailure:
        """Cloudflare's token check: the account-owned or the user token endpoint."""
        path = f"{self._account}/tokens/verify" if owner == "account" else "/user/tokens/verify"
        return await self._call("GET", path, idempotent=True)

    async def list_one_meeting(self) -> Answer | StopFailure:
        """A harmless read of the RealtimeKit app: one page of one meeting."""
        return await self._call("GET", f"{self._app}/meetings?per_page=1", idempotent=True)

    async def _call(self, method: str, path: str, *, idempotent: bool) -> Answer | ReadFailure:
        """Send with bounded retries: 429 when Retry-After is within the cap and, when
        the request is `idempotent`, lost answers (timeouts, resets, 502/503/504).
        Connect-phase failures are retried by the transport."""
        last: Answer | ReadFailure = Unreachable("network")
        for attempt in range(1, self._max_attempts + 1):
            wait = self._backoff * 2 ** (attempt - 1)
            last = await self._attempt(method, path)
            if isinstance(last, Answer):
                if last.too_large:
                    return UnexpectedResponse(last.status, too_large=True)
                if last.status == 429:
                    retry_after = parse_retry_after(last.headers.get("retry-after"))
                    wait = wait if retry_after is None else retry_after
                    # Over the limit every call is refused: hold them all, in every copy,
                    # not just this one.
                    await self._state.pause_calls(min(wait, MAX_PAUSE_SECONDS))
                    if wait > self._max_retry_after:
                        return last  # the caller decides whether to wait (a batch does)
                elif not (idempotent and last.status in _LOST_STATUSES):
                    return last
            elif not (idempotent and _lost(last) is not None):
                return last
            if attempt < self._max_attempts:
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
                async with self._limit:
                    wait = await self._pace()
                    self._queued.discard(queued)
                    if wait is not None:
                        return RateLimited(wait, sent=False)
                    budget = _BUDGET.get()
                    if budget is not None and budget.when() is None:
                        budget.reschedule(asyncio.get_running_loop().time() + self._budget)
                    async with asyncio.timeout(self._timeout):
                        with (
                            metrics.API_IN_FLIGHT.track_inprogress(),
                            metrics.API_SECONDS.labels(method).time(),
                        ):
                            return await self._pools.send(method, path, self._token)
        except httpx.ConnectTimeout:
            return Unreachable("connect_timeout")
        except httpx.ConnectError as error:
            return Unreachable(connect_reason(error))
        except (httpx.TimeoutException, TimeoutError):
            return NotSent() if queued.expired() else TimedOut(self._timeout)
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
            wait, _ = await self._state.take_call(self._per_window, self._window)
            if wait is None or wait > self._max_retry_after:
                return wait
            # The wait is for time to pass (the window to slide, a pause to end).
            await asyncio.sleep(wait)


def _lost(result: StopResult | StatusResult) -> Lost | None:
    """`result` when it is an answer that may have come after the API acted."""
    match result:
        case TimedOut() | Unreachable(reason="reset"):
            return result
        case UnexpectedResponse(status=status) | ApiError(status=status) if (
            status in _LOST_STATUSES
        ):
            return result
        case _:
            return None
