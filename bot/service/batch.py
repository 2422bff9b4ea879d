"""What a stop-all batch says: its request, its refusal, the confirmation, its summary
(shared through state as JSON) and the progress it reports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from bot.codec import decode_result, encode_result
from bot.realtimekit import LiveStream, MeetingId, ReadFailure, StopResult
from bot.service.admit import Audit, Denied, Invalid, StopRequest
from bot.state import State

log = logging.getLogger(__name__)

# How often a running batch renews its slot.
SLOT_RENEW_SECONDS = 60.0
# How often a waiter re-reads the summary a batch in another copy will write.
SUMMARY_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StopAllRequest:
    """Who asks to stop everything, from where; for a press, when the button was shown
    (`issued_at`, Unix time) and, for a retry, which batch's failures to try again."""

    user_id: str
    team_id: str | None = None
    channel_id: str | None = None
    issued_at: float | None = None
    pressed: bool = False
    retry_of: str | None = None

    def as_stop(self, meeting_id: str = "") -> StopRequest:
        """The same person and place, as one stop's request (for admission and audit)."""
        return StopRequest(
            "stop_all", self.user_id, meeting_id, self.team_id, self.channel_id,
            issued_at=self.issued_at,
        )  # fmt: skip


@dataclass(frozen=True)
class StopAllRefused:
    """Nothing was stopped: why (the admission's refusal, with stop-all's own reasons:
    disabled, not_on_stop_all_list, summary_gone)."""

    refusal: Invalid | Denied


@dataclass(frozen=True)
class Confirmation:
    """What is live now (newest first), to confirm before stopping it all."""

    request_id: str
    streams: tuple[LiveStream, ...]
    shown_at: float


@dataclass(frozen=True)
class FailedStop:
    """One meeting the batch could not stop, and what the API answered (or NOT_TRIED,
    STILL_LIVE: why it was not tried)."""

    meeting_id: MeetingId
    name: str | None
    result: StopResult


@dataclass(frozen=True)
class BatchSummary:
    """A batch's totals: `live` meetings were tried, `stopped` stopped, `ended` had
    already ended (no active livestream to stop, or it left the list), `failed` lists
    the rest. `finished` is False while it runs; `list_failure` when the live list could
    not be read, so nothing was tried."""

    batch_id: str
    user_id: str
    channel_id: str | None
    live: int = 0
    stopped: int = 0
    ended: int = 0
    failed: tuple[FailedStop, ...] = ()
    finished: bool = True
    retry_of: str | None = None
    list_failure: ReadFailure | None = None
    duration_ms: int = 0

    def encode(self) -> str:
        """As JSON, for state; `decode` gives it back. The format is the one older copies
        write and read (results as encode_result strings), so a rolling deploy shares it."""
        document = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        document["failed"] = [
            {"meeting_id": f.meeting_id, "name": f.name, "result": encode_result(f.result)}
            for f in self.failed
        ]
        failure = self.list_failure
        document["list_failure"] = None if failure is None else encode_result(failure)
        return json.dumps(document, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> BatchSummary | None:
        """The summary `encode` wrote (fields a newer copy added are ignored); None for
        anything else."""
        try:
            d = json.loads(text)
            d["failed"] = tuple(
                FailedStop(MeetingId(f["meeting_id"]), f["name"], decode_result(f["result"]))
                for f in d["failed"]
            )
            d["list_failure"] = d["list_failure"] and decode_result(d["list_failure"])
            return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class AlreadyRunning:
    """Another batch was running: its summary once it finished (None if it did not
    finish within SUMMARY_WAIT_SECONDS, or was lost)."""

    batch_id: str
    summary: BatchSummary | None


PressOutcome = BatchSummary | AlreadyRunning | StopAllRefused


class Progress(Protocol):
    """Told how a batch advances; must not block (a door schedules its own replies)."""

    def listed(self, total: int) -> None:
        """The live list was read: `total` meetings will be tried (more if a later read
        finds more)."""
        ...

    def advanced(self, done: int, total: int) -> None:
        """`done` of `total` meetings have an outcome."""
        ...

    def blocked(self) -> None:
        """Another batch is running; this press waits for its summary."""
        ...


class NoProgress:
    """A Progress that tells no one."""

    def listed(self, total: int) -> None:
        """Ignored."""

    def advanced(self, done: int, total: int) -> None:
        """Ignored."""

    def blocked(self) -> None:
        """Ignored."""


@dataclass
class Run:
    """A running batch: who asked, its deadline, whom to tell, and its counts so far
    (see BatchSummary); with `only`, the meetings a retry may stop."""

    request: StopAllRequest
    audit: Audit
    deadline: float
    progress: Progress
    only: frozenset[MeetingId] | None
    live: int = 0
    tried: set[tuple[MeetingId, str]] = field(default_factory=set)  # (meeting, livestream id)
    stopped: int = 0
    ended: int = 0
    failed: list[FailedStop] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def batch_id(self) -> str:
        """The batch's id (its audit lines' request_id)."""
        return self.audit.request_id

    def audit_of(self, meeting_id: MeetingId) -> Audit:
        """One meeting's stop line within the batch (`"event": "stop"`)."""
        stop = self.request.as_stop(meeting_id)
        return Audit("stop", stop, self.batch_id, batch_id=self.batch_id)

    def fail(self, stream: LiveStream, result: StopResult) -> None:
        """Count `stream` as failed with `result`, and tell the door."""
        self.failed.append(FailedStop(stream.meeting_id, stream.name, result))
        self.advanced()

    def advanced(self) -> None:
        """Tell the door about progress; its trouble never stops the batch."""
        try:
            self.progress.advanced(self.stopped + self.ended + len(self.failed), self.live)
        except Exception:
            log.exception("stop-all: could not report progress")

    def line(self, **fields: object) -> None:
        """The batch's totals line (`"event": "stop_all"`)."""
        self.audit.write(
            None, "allowed", live=self.live, stopped=self.stopped, already_ended=self.ended,
            failed=len(self.failed), duration_ms=self._elapsed_ms(), **fields,
        )  # fmt: skip

    def summary(self, list_failure: ReadFailure | None = None) -> BatchSummary:
        """The batch's summary now."""
        request = self.request
        return BatchSummary(
            self.batch_id, request.user_id, request.channel_id, self.live, self.stopped,
            self.ended, tuple(self.failed), retry_of=request.retry_of,
            list_failure=list_failure, duration_ms=self._elapsed_ms(),
        )  # fmt: skip

    def _elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)


class BatchSlot:
    """One batch per app at a time, across copies: the slot in state (held for at most
    `lock_seconds`, renewed while its batch runs) and the summaries batches leave."""

    def __init__(self, state: State, lock_seconds: float) -> None:
        self._state = state
        self._lock_seconds = lock_seconds
        self._finished: dict[str, asyncio.Event] = {}  # batches running in this process

    @contextlib.asynccontextmanager
    async def held(self, batch_id: str) -> AsyncIterator[None]:
        """While the batch that took the slot runs: renew it, then release it."""
        finished = self._finished[batch_id] = asyncio.Event()
        ending = asyncio.Event()
        renewing = asyncio.ensure_future(self._keep(batch_id, ending))
        try:
            yield
        finally:
            ending.set()
            await renewing  # so that no renewal lands after the release
            await self._state.end_batch(batch_id)
            finished.set()
            del self._finished[batch_id]

    async def _keep(self, batch_id: str, ending: asyncio.Event) -> None:
        """Renew the slot every SLOT_RENEW_SECONDS until `ending` is set: it must not
        expire under a running batch, only when the copy running it dies."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ending.wait(), SLOT_RENEW_SECONDS)
                return
            running, _ = await self._state.begin_batch(batch_id, self._lock_seconds)
            if running is not None:
                log.warning("stop-all %s: the batch slot was lost to batch %s", batch_id, running)

    async def summary(self, batch_id: str) -> BatchSummary | None:
        """The summary the batch left, if it is still kept."""
        text, _ = await self._state.get_batch_summary(batch_id)
        return None if text is None else BatchSummary.decode(text)

    async def wait_summary(self, batch_id: str) -> BatchSummary | None:
        """The running batch's summary once it is finished, waiting at most as long as
        the slot lasts: woken at once by a batch in this process, re-read every
        SUMMARY_POLL_SECONDS for one in another copy."""
        until = time.monotonic() + self._lock_seconds
        here = self._finished.get(batch_id)
        while True:
            ended_here = here is not None and here.is_set()
            summary = await self.summary(batch_id)
            if summary is not None and summary.finished:
                return summary
            left = until - time.monotonic()
            if ended_here or left <= 0:
                return None  # it ended without a finished summary (it failed), or too late
            if here is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(here.wait(), min(SUMMARY_POLL_SECONDS, left))
            else:
                await asyncio.sleep(min(SUMMARY_POLL_SECONDS, left))  # a batch in another copy
