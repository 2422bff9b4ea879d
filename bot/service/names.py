"""A meeting's names beside its stop: what the stream and its meeting are called,
read once the stop is under way, within NAMES_WAIT_SECONDS."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.realtimekit import LiveStream, MeetingId
from bot.service.admit import StopRequest
from bot.service.stop import OnAccepted, Outcome

if TYPE_CHECKING:
    from bot.service.live import FindService
    from bot.service.reads import LiveReads
    from bot.service.stop import StopService

log = logging.getLogger(__name__)

# How long the names read beside a stop may take, counted from its start: a stop that
# took longer is posted at once.
NAMES_WAIT_SECONDS = 1.0


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


async def stop_named(
    stops: StopService,
    finder: FindService | None,
    request: StopRequest,
    *,
    known: Names | None = None,
    on_accepted: OnAccepted | None = None,
) -> tuple[Outcome, Names | None]:
    """Stop, reading the meeting's names alongside (never before the call goes out):
    the outcome, and whatever names were read in time (`known` ones need no read)."""
    names = finder.lookup(known) if finder is not None else None

    def accepted(meeting_id: MeetingId) -> None:
        if on_accepted is not None:
            on_accepted(meeting_id)
        if names is not None:
            names.start(meeting_id)

    outcome = await stops.stop(request, accepted)
    return outcome, (await names.result() if names is not None else None)


class NameLookup:
    """Reads a meeting's names alongside its stop: started once the stop is under way,
    collected after it. The reads get NAMES_WAIT_SECONDS from their start, so a stop that
    took longer than that is posted at once, and a quick one waits at most that long.
    Whatever is read by then is used (the stream's name without the title, say)."""

    def __init__(self, finder: LiveReads, known: Names | None = None) -> None:
        self._finder = finder
        self._known = known
        self._reads: tuple[asyncio.Future[str | None], asyncio.Future[str | None]] | None = None
        self._started = 0.0

    def start(self, meeting_id: MeetingId) -> None:
        """Begin reading (for an OnAccepted callback: after the stop call went out)."""
        if self._known is None and self._reads is None:
            self._started = time.monotonic()
            self._reads = (
                asyncio.ensure_future(self._finder.stream_name(meeting_id)),
                asyncio.ensure_future(self._finder.title(meeting_id, NAMES_WAIT_SECONDS)),
            )
            for read in self._reads:
                read.add_done_callback(retrieve)

    async def result(self, within: float = NAMES_WAIT_SECONDS) -> Names | None:
        """The names read within `within` s of the reads' start; None when neither was."""
        if self._reads is None:
            return self._known
        stream_name, title = self._reads
        left = self._started + within - time.monotonic()
        try:
            if left > 0:
                await asyncio.wait(self._reads, timeout=left)
        finally:
            for read in self._reads:
                read.cancel()  # the shared reads they wait on go on, for the caches
        names = Names(_value(stream_name), _value(title))
        return names if names != Names() else None


def _value(read: asyncio.Future[str | None]) -> str | None:
    if not read.done() or read.cancelled() or read.exception() is not None:
        return None
    return read.result()


def retrieve(future: asyncio.Future[Any]) -> None:
    """Log a background read's unexpected error instead of leaving it unretrieved."""
    if not future.cancelled() and future.exception() is not None:
        log.warning("a name read failed: %r", future.exception())
