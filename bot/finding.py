"""The use case behind lists and pickers: what is live, with names.

It reads the app's live list (cached for a few seconds, concurrent loads combined) and
meeting titles (cached for minutes, a few reads at a time; for type-ahead and search by
name, in the background and paced, so that no answer waits for a thousand of them),
checks the person through the same Access as the stops, audits, and returns values the
messages turn into Slack.
Like bot.stopping it knows nothing of Bolt.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from cachetools import TLRUCache, TTLCache

from bot.flight import SingleFlight
from bot.realtimekit import (
    ApiError,
    ListResult,
    LiveList,
    LiveStream,
    Meeting,
    MeetingId,
    ReadFailure,
    RealtimeKitClient,
)
from bot.stopping import (
    AttemptAudit,
    Denied,
    Invalid,
    StopRequest,
    api_status,
    malformed_ids,
    new_request_id,
    outcome_name,
)

if TYPE_CHECKING:
    from bot.stopping import StopService

log = logging.getLogger(__name__)

PAGE_SIZE = 20
LIST_TTL_SECONDS = 5.0
# Titles seldom change: kept long enough for a background read of a thousand to finish.
TITLE_TTL_SECONDS = 1800.0
# A title that could not be read is not asked for again for this long.
TITLE_FAILURE_SECONDS = 30.0
NAME_MEMORY_SECONDS = 3600.0
CACHE_SIZE = 10_000
# Title reads in flight at once: the client's other connections stay free for stops.
TITLE_READS = 4
# Background title reads (type-ahead, search by name): fewer at a time, and at most
# TITLE_WARM_PER_SECOND, so a thousand live streams take about a third of the API's
# 3,500 requests per 5 minutes and never crowd out stops.
TITLE_WARM_READS = 2
TITLE_WARM_PER_SECOND = 4
# How long a search by name waits for titles not yet known (then it uses what it has).
SEARCH_TITLES_WAIT_SECONDS = 1.5
# How long the names read beside a stop may take, counted from its start: a stop that
# took longer is posted at once.
NAMES_WAIT_SECONDS = 1.0
CANDIDATES_SHOWN = 10
SUGGESTIONS_MAX = 100

_MISSING = object()


@dataclass(frozen=True)
class Names:
    """What a meeting is called: its livestream's name and its title, when known."""

    stream_name: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class LiveRow:
    """One live livestream and its meeting's title (None when it could not be read)."""

    stream: LiveStream
    title: str | None = None

    @property
    def meeting_id(self) -> MeetingId:
        """The meeting the livestream belongs to."""
        return self.stream.meeting_id

    @property
    def names(self) -> Names:
        """The row's names."""
        return Names(self.stream.name, self.title)


@dataclass(frozen=True)
class Listed:
    """One page of what is live: `rows` start at `offset` of `total`, newest first."""

    request_id: str
    user_id: str
    rows: tuple[LiveRow, ...]
    total: int
    offset: int


@dataclass(frozen=True)
class ListFailed:
    """The live list could not be read; `failure` says why."""

    request_id: str
    user_id: str
    failure: ReadFailure


@dataclass(frozen=True)
class Found:
    """Exactly one live livestream has the name asked for."""

    request_id: str
    row: LiveRow


@dataclass(frozen=True)
class NoMatch:
    """No live livestream, or several (`several`), has the name asked for; `candidates`
    are the matches, or else what is live (at most CANDIDATES_SHOWN of `total`); the
    titles of `unread` meetings were not known in time."""

    request_id: str
    name: str
    candidates: tuple[LiveRow, ...]
    total: int
    several: bool
    unread: int = 0


ListOutcome = Listed | ListFailed | Denied | Invalid
FindOutcome = Found | NoMatch | ListFailed | Denied | Invalid


def matches(row: LiveRow, query: str) -> bool:
    """True when every word of `query` is in the stream's name, its meeting's title or
    its meeting ID, ignoring case."""
    wanted = query.strip().casefold()
    haystacks = (row.stream.name or "", row.title or "", row.meeting_id)
    return all(any(word in h.casefold() for h in haystacks) for word in wanted.split())


class FindService:
    """What is live, with names, for an allowed person."""

    def __init__(
        self,
        client: RealtimeKitClient,
        stops: StopService,
        *,
        list_ttl: float = LIST_TTL_SECONDS,
        title_ttl: float = TITLE_TTL_SECONDS,
    ) -> None:
        self._client = client
        self._stops = stops  # its Access is the one every door shares
        self._list: TTLCache[None, ListResult] = TTLCache(maxsize=1, ttl=list_ttl)
        self._loads: SingleFlight[None, ListResult] = SingleFlight()
        self._titles: TLRUCache[MeetingId, str | ReadFailure | None] = TLRUCache(
            maxsize=CACHE_SIZE,
            ttu=lambda _, v, now: (
                now + (TITLE_FAILURE_SECONDS if isinstance(v, ReadFailure) else title_ttl)
            ),
        )
        self._title_reads: SingleFlight[MeetingId, str | None] = SingleFlight()
        self._reads = asyncio.Semaphore(TITLE_READS)
        self._warm_reads = asyncio.Semaphore(TITLE_WARM_READS)
        self._warm_next = 0.0  # when the next background read may start
        # Names seen in a list, so a stream stopped from the list is still named once the
        # list no longer shows it.
        self._seen: TTLCache[MeetingId, str] = TTLCache(maxsize=CACHE_SIZE, ttl=NAME_MEMORY_SECONDS)

    # ------------------------------------------------------------------ use cases

    async def live_page(self, request: StopRequest, offset: int = 0) -> ListOutcome:
        """One page (PAGE_SIZE rows from `offset`) of what is live, read afresh, with
        the meetings' titles; audited as one `list` line."""
        request_id = new_request_id()
        attempt = AttemptAudit("list", request, request_id)
        result = await self._read_for(request, request_id, attempt)
        if not isinstance(result, LiveList):
            return result
        total = len(result.streams)
        if offset >= total:  # the list shrank since the button was shown: its last page
            offset = (total - 1) // PAGE_SIZE * PAGE_SIZE if total else 0
        offset = max(0, offset)
        rows = await self.with_titles(result.streams[offset : offset + PAGE_SIZE])
        attempt.write(None, "allowed", api_status=200, outcome="listed", count=total, offset=offset)
        return Listed(request_id, request.user_id, rows, total, offset)

    async def _read_for(
        self, request: StopRequest, request_id: str, attempt: AttemptAudit
    ) -> LiveList | Denied | Invalid | ListFailed:
        """The live list, read afresh, for a person who may see it; else the refusal or
        the failure, audited."""
        refused = await self._admit(request, request_id, attempt)
        if refused is not None:
            return refused
        result = await self.live(fresh=True)
        if not isinstance(result, LiveList):
            attempt.write(
                None, "allowed", api_status=api_status(result), outcome=outcome_name(result)
            )
            return ListFailed(request_id, request.user_id, result)
        return result

    async def find_by_name(self, request: StopRequest, name: str) -> FindOutcome:
        """The one live livestream whose name or meeting title is `name` (ignoring case
        and surrounding spaces); audited as one `find` line."""
        request_id = new_request_id()
        attempt = AttemptAudit("find", request, request_id)
        result = await self._read_for(request, request_id, attempt)
        if not isinstance(result, LiveList):
            return result
        reads = self._warm(result.streams, join=True)
        if reads:
            await asyncio.wait(reads, timeout=SEARCH_TITLES_WAIT_SECONDS)
        rows = self.known_rows(result.streams)
        wanted = name.strip().casefold()
        found = [
            r
            for r in rows
            if wanted and wanted in ((r.stream.name or "").strip().casefold(),
                                     (r.title or "").strip().casefold())
        ]  # fmt: skip
        if len(found) == 1:
            attempt.write(found[0].meeting_id, "allowed", api_status=200, outcome="found")
            return Found(request_id, found[0])
        candidates = found or list(rows)
        attempt.write(
            None, "allowed", api_status=200,
            outcome="ambiguous" if found else "no_match", count=len(found),
        )  # fmt: skip
        unread = sum(1 for s in result.streams if s.meeting_id not in self._titles)
        return NoMatch(
            request_id, name, tuple(candidates[:CANDIDATES_SHOWN]), len(candidates), bool(found),
            unread,
        )  # fmt: skip

    async def may_list(self, request: StopRequest) -> Denied | Invalid | None:
        """None when the person may see what is live; not audited (for type-ahead, which
        asks at every keystroke). Without a channel, only the person is checked: the
        shortcut's modal picks its channel in the same form, checked on submission."""
        allowed = self._stops.access.policy.channel_ids
        if request.channel_id is None and allowed:
            request = dataclasses.replace(request, channel_id=min(allowed))
        return await self._admit(request, "", None)

    async def suggest(self, query: str, within: float) -> list[LiveRow] | ReadFailure | None:
        """Live rows matching `query` (at most SUGGESTIONS_MAX), from the cached list and
        the titles known (the others are read in the background); None when the list is
        not loaded within `within` s (it goes on loading for the next keystroke)."""
        loading = asyncio.ensure_future(self.live())
        loading.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({loading}, timeout=within)
        if not done:
            return None
        result = loading.result()
        if not isinstance(result, LiveList):
            return result
        self._warm(result.streams)
        rows = self.known_rows(result.streams)
        return [r for r in rows if matches(r, query)][:SUGGESTIONS_MAX]

    # ------------------------------------------------------------------ reads

    async def live(self, *, fresh: bool = False) -> ListResult:
        """What is live: the cached list (LIST_TTL_SECONDS) unless `fresh`; loads that
        overlap share one read."""
        if not fresh:
            cached = self._list.get(None)
            if cached is not None:
                return cached
        return await self._loads.run(None, self._load)

    async def _load(self) -> ListResult:
        result = await self._client.list_live()
        self._list[None] = result
        if isinstance(result, LiveList):
            for stream in result.streams:
                if stream.name:
                    self._seen[stream.meeting_id] = stream.name
        return result

    async def title(self, meeting_id: MeetingId, queue: float | None = None) -> str | None:
        """The meeting's title, cached (TITLE_TTL_SECONDS); None when it has none or
        it cannot be read, or when a read was not under way within `queue` s."""
        cached = self._titles.get(meeting_id, _MISSING)
        if cached is not _MISSING:
            return cached if isinstance(cached, str) else None
        return await self._title_reads.run(
            meeting_id, lambda: self._read_title(meeting_id, queue=queue)
        )

    def _warm(
        self, streams: tuple[LiveStream, ...], *, join: bool = False
    ) -> list[asyncio.Future[str | None]]:
        """Read the titles not cached, in the background and paced; the reads started
        (with `join`, those already under way too)."""
        reads = []
        for meeting_id in (s.meeting_id for s in streams):
            if meeting_id in self._titles or (self._title_reads.running(meeting_id) and not join):
                continue
            read = self._title_reads.run(meeting_id, partial(self._read_title, meeting_id, True))
            read.add_done_callback(_retrieve)
            reads.append(read)
        return reads

    def known_rows(self, streams: tuple[LiveStream, ...]) -> tuple[LiveRow, ...]:
        """`streams` as rows with the titles already known (no read)."""
        return tuple(
            LiveRow(s, t if isinstance(t := self._titles.get(s.meeting_id), str) else None)
            for s in streams
        )

    async def title_within(self, meeting_id: MeetingId, within: float) -> str | None:
        """The meeting's title if it can be read within `within` s (a read under way by
        then goes on, for the cache); else None."""
        reading = asyncio.ensure_future(self.title(meeting_id, within))
        reading.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({reading}, timeout=within)
        return reading.result() if done and reading.exception() is None else None

    async def _read_title(
        self, meeting_id: MeetingId, paced: bool = False, queue: float | None = None
    ) -> str | None:
        slots = self._warm_reads if paced else self._reads
        try:
            await asyncio.wait_for(slots.acquire(), queue)
        except TimeoutError:
            # Nobody waits for it any more: under a steady load such reads would queue
            # without end (about 2 KB each).
            return None
        try:
            if paced:  # background reads start 1 / TITLE_WARM_PER_SECOND s apart
                now = time.monotonic()
                start = max(now, self._warm_next)
                self._warm_next = start + 1 / TITLE_WARM_PER_SECOND
                await asyncio.sleep(start - now)  # for time to pass, not for an event
            result = await self._client.get_meeting(meeting_id)
        finally:
            slots.release()
        match result:
            case Meeting(title=title):
                self._titles[meeting_id] = title
                return title
            case ApiError(status=404):
                self._titles[meeting_id] = None  # no such meeting: no title to wait for
                return None
            case failure:
                log.info("could not read the title of meeting %s: %s", meeting_id, failure)
                self._titles[meeting_id] = failure  # not asked again for a while
                return None

    async def with_titles(self, streams: tuple[LiveStream, ...]) -> tuple[LiveRow, ...]:
        """`streams` as rows with their meetings' titles (read TITLE_READS at a time)."""
        titles = await asyncio.gather(*(self.title(s.meeting_id) for s in streams))
        return tuple(LiveRow(s, t) for s, t in zip(streams, titles, strict=True))

    async def stream_name(self, meeting_id: MeetingId) -> str | None:
        """The name of the meeting's livestream: remembered from a list, or read from
        the (cached) list."""
        seen = self._seen.get(meeting_id)
        if seen is not None:
            return seen
        result = await self.live()
        if isinstance(result, LiveList):
            for stream in result.streams:
                if stream.meeting_id == meeting_id:
                    return stream.name
        return self._seen.get(meeting_id)

    async def _admit(
        self, request: StopRequest, request_id: str, attempt: AttemptAudit | None
    ) -> Denied | Invalid | None:
        """None if the person may see what is live here; else the refusal, audited."""
        problem = malformed_ids(request.user_id, request.channel_id)
        if problem is not None:
            if attempt is not None:
                attempt.write(None, "invalid", reason=problem)
            return Invalid(request_id, "", problem)
        denial = await self._stops.access.check(
            request.user_id, request.channel_id, request.team_id
        )
        if denial is None:
            return None
        if attempt is not None:
            attempt.write(None, "denied", reason=denial.reason, detail=denial.detail or None)
        return Denied(request_id, request.user_id, MeetingId(""), denial)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Log a background read's unexpected error instead of leaving it unretrieved."""
    if not future.cancelled() and future.exception() is not None:
        log.warning("a name read failed: %r", future.exception())


__all__ = [
    "CANDIDATES_SHOWN",
    "NAMES_WAIT_SECONDS",
    "PAGE_SIZE",
    "FindOutcome",
    "FindService",
    "Found",
    "ListFailed",
    "ListOutcome",
    "Listed",
    "LiveRow",
    "Names",
    "NoMatch",
    "matches",
]
