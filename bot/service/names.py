"""A meeting's names beside its stop: what the stream and its meeting are called,
read once the stop is under way, within NAMES_WAIT_SECONDS."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bot.realtimekit import LiveStream, MeetingId

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


def retrieve(future: asyncio.Future[Any]) -> None:
    """Log a background read's unexpected error instead of leaving it unretrieved."""
    if not future.cancelled() and future.exception() is not None:
        log.warning("a name read failed: %r", future.exception())
