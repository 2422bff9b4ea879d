"""The RealtimeKit client: the API's endpoints (calls.py sends, parsing.py reads). A stop
is POSTed again only when the first cannot have taken effect, or a status read after a
lost answer shows the stream still live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import anyio
import anyio.lowlevel

from bot.config import Settings
from bot.env import Secret
from bot.realtimekit.calls import Calls, lost
from bot.realtimekit.parsing import (
    Page,
    parse_livestream_page,
    parse_meeting_response,
    parse_status_response,
    parse_stop_response,
)
from bot.realtimekit.results import (
    ListResult,
    LiveList,
    Livestream,
    MeetingId,
    MeetingResult,
    NoActiveLivestream,
    ReadFailure,
    StatusResult,
    StopFailure,
    Stopped,
    StopResult,
    TimedOut,
    Unconfirmed,
)
from bot.realtimekit.transport import Answer, SplitPools
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

T = TypeVar("T")
# How an answer is read: parsing.py's parse_* functions.
Parse = Callable[[int, Mapping[str, str], bytes], T]


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
        budget: float | None = None,
        state: State | None = None,
    ) -> None:
        self._account = f"/accounts/{account_id}"
        self._app = f"{self._account}/realtime/kit/{app_id}"
        self._calls = Calls(
            pools=SplitPools(base_url, timeout, max_concurrency),
            token=api_token,
            state=state or MemoryState(),
            limit=asyncio.Semaphore(max_concurrency),
            timeout=timeout,
            max_attempts=max_attempts,
            backoff=backoff,
            budget=CALL_BUDGET_SECONDS if budget is None else budget,
            requests_per_window=REQUESTS_PER_WINDOW,
            window_seconds=WINDOW_SECONDS,
            max_pause=MAX_PAUSE_SECONDS,
        )

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
        """Pay now what the first stop would: anyio's asyncio backend (httpx loads it
        lazily, ~25 ms here) and the API's host name (and the resolver's thread)."""
        await anyio.lowlevel.checkpoint()
        url = self._calls.pools.base_url
        port = url.port or (443 if url.scheme == "https" else 80)
        with contextlib.suppress(OSError, TimeoutError):  # the first stop will say what failed
            await asyncio.wait_for(anyio.getaddrinfo(url.host, port), 2.0)

    def stop_sending(self) -> None:
        """The bot is shutting down: send nothing more (those already sent go on)."""
        self._calls.stop_sending()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._calls.pools.aclose()

    async def stop_livestream(self, meeting_id: MeetingId) -> StopResult:
        """Stop the active livestream of `meeting_id`, within CALL_BUDGET_SECONDS."""
        return await self._calls.bounded(self._stop(meeting_id))

    async def _stop(self, meeting_id: MeetingId) -> StopResult:
        path = f"{self._app}/meetings/{meeting_id}/active-livestream/stop"
        calls = self._calls
        result: StopResult = TimedOut(calls.timeout)
        for attempt in range(1, calls.max_attempts + 1):
            result = await self._read("POST", path, parse_stop_response, idempotent=False)
            answer_lost = lost(result)
            if answer_lost is None:
                return result
            # The stop may have gone through: ask before stopping again.
            check = await self._status(meeting_id)
            match check:
                case Livestream(status="LIVE"):
                    pass  # still live: the stop did not take effect; POST again
                case NoActiveLivestream() | Livestream():
                    return Stopped("", recovered_from=answer_lost)
                case failure:
                    return Unconfirmed(answer_lost, failure)
            if attempt < calls.max_attempts:
                await asyncio.sleep(calls.backoff * 2 ** (attempt - 1))
        return result

    async def get_active_livestream(self, meeting_id: MeetingId) -> StatusResult:
        """The active livestream of `meeting_id`: its status, without its credentials."""
        return await self._calls.bounded(self._status(meeting_id))

    async def _status(self, meeting_id: MeetingId) -> StatusResult:
        path = f"{self._app}/meetings/{meeting_id}/active-livestream"
        return await self._read("GET", path, parse_status_response)

    async def list_live(self) -> ListResult:
        """Every LIVE livestream of the app, newest first, following every page. Once
        the first page gives the total, the other pages are read at once (a stop-all of
        1,000 streams read its 10 pages in 2 x D instead of 10 x D)."""
        return await self._calls.bounded(self._list_live())

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
        return await self._read("GET", path, parse_livestream_page)

    async def get_meeting(self, meeting_id: MeetingId) -> MeetingResult:
        """The meeting itself (its title)."""
        path = f"{self._app}/meetings/{meeting_id}"
        return await self._calls.bounded(self._read("GET", path, parse_meeting_response))

    async def verify_token(self, owner: Literal["account", "user"]) -> Answer | StopFailure:
        """Cloudflare's token check: the account-owned or the user token endpoint."""
        path = f"{self._account}/tokens/verify" if owner == "account" else "/user/tokens/verify"
        return await self._calls.send("GET", path, idempotent=True)

    async def list_one_meeting(self) -> Answer | StopFailure:
        """A harmless read of the RealtimeKit app: one page of one meeting."""
        return await self._calls.send("GET", f"{self._app}/meetings?per_page=1", idempotent=True)

    async def _read(
        self, method: str, path: str, parse: Parse[T], *, idempotent: bool = True
    ) -> T | ReadFailure:
        """The request's answer as `parse` reads it, or why there was none."""
        answer = await self._calls.send(method, path, idempotent=idempotent)
        if isinstance(answer, Answer):
            return parse(answer.status, answer.headers, answer.body)
        return answer
