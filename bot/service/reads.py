"""What is live and what meetings are called, read through caches: the live list
(cached for a few seconds, concurrent loads combined) and meeting titles (cached for
minutes, a few reads at a time; for type-ahead and search by name, in the background
and paced, so that no answer waits for a thousand of them)."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from cachetools import TTLCache

from bot.cache import Cache
from bot.realtimekit import (
    ApiError,
    ListResult,
    LiveList,
    LiveStream,
    Meeting,
    MeetingId,
    NotSent,
    ReadFailure,
    RealtimeKitClient,
)
from bot.service.names import LiveRow, retrieve

log = logging.getLogger(__name__)

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


class LiveReads:
    """The live list and meeting titles, cached; the reads FindService answers from."""

    def __init__(
        self, client: RealtimeKitClient, *, list_ttl: float = LIST_TTL_SECONDS,
        title_ttl: float = TITLE_TTL_SECONDS,
    ) -> None:  # fmt: skip
        self._client = client
        self._list: Cache[None, ListResult] = Cache(list_ttl, maxsize=1)
        # A title, None (it has none), or why it could not be read: kept a while, but
        # not when it was never asked for (NotSent: nobody waited for it any more).
        self._titles: Cache[MeetingId, str | ReadFailure | None] = Cache(
            lambda v: (
                0 if isinstance(v, NotSent)
                else TITLE_FAILURE_SECONDS if isinstance(v, ReadFailure) else title_ttl
            ),
            CACHE_SIZE,
        )  # fmt: skip
        self._reads = asyncio.Semaphore(TITLE_READS)
        self._warm_reads = asyncio.Semaphore(TITLE_WARM_READS)
        self._warm_next = 0.0  # when the next background read may start
        # Names seen in a list, so a stream stopped from the list is still named once the
        # list no longer shows it.
        self._seen: TTLCache[MeetingId, str] = TTLCache(maxsize=CACHE_SIZE, ttl=NAME_MEMORY_SECONDS)

    async def live(self, *, fresh: bool = False) -> ListResult:
        """What is live: the cached list (LIST_TTL_SECONDS) unless `fresh`; loads that
        overlap share one read."""
        return await self._list.load(None, self._load, fresh=fresh)

    async def _load(self) -> ListResult:
        result = await self._client.list_live()
        if isinstance(result, LiveList):
            for stream in result.streams:
                if stream.name:
                    self._seen[stream.meeting_id] = stream.name
        return result

    async def title(self, meeting_id: MeetingId, queue: float | None = None) -> str | None:
        """The meeting's title, cached (TITLE_TTL_SECONDS); None when it has none or
        it cannot be read, or when a read was not under way within `queue` s."""
        title = await self._titles.load(
            meeting_id, lambda: self._read_title(meeting_id, queue=queue)
        )
        return title if isinstance(title, str) else None

    def _warm(
        self, streams: tuple[LiveStream, ...], *, join: bool = False
    ) -> list[asyncio.Future[str | ReadFailure | None]]:
        """Read the titles not cached, in the background and paced; the reads started
        (with `join`, those already under way too)."""
        reads = []
        for meeting_id in (s.meeting_id for s in streams):
            if meeting_id in self._titles or (self._titles.running(meeting_id) and not join):
                continue
            read = self._titles.load(meeting_id, partial(self._read_title, meeting_id, True))
            read.add_done_callback(retrieve)
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
        reading.add_done_callback(retrieve)
        done, _ = await asyncio.wait({reading}, timeout=within)
        return reading.result() if done and reading.exception() is None else None

    async def _read_title(
        self, meeting_id: MeetingId, paced: bool = False, queue: float | None = None
    ) -> str | ReadFailure | None:
        slots = self._warm_reads if paced else self._reads
        try:
            await asyncio.wait_for(slots.acquire(), queue)
        except TimeoutError:
            # Nobody waits for it any more: under a steady load such reads would queue
            # without end (about 2 KB each).
            return NotSent()
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
                return title
            case ApiError(status=404):
                return None  # no such meeting: no title to wait for
            case failure:
                log.info("could not read the title of meeting %s: %s", meeting_id, failure)
                return failure  # not asked again for a while

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
