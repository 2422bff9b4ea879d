"""The use case behind `/stop-livestream all`: who may, the confirmation, the batch.

    confirm(request)             -> Confirmation | ListFailed | StopAllRefused
    press(request, progress)     -> BatchSummary | AlreadyRunning | StopAllRefused

A press reads the live list again (the one shown is not trusted) and stops every
stream through StopService.stop_shared, so a meeting someone is already stopping
shares that call. At most `max_concurrency` stops run at once (the client's own
semaphore bounds every call as well), the client keeps all calls within
RealtimeKit's limit, and a stop answered 429 waits the Retry-After and is tried again.
After each round the list is read again and what is still live is stopped (at most
ROUNDS rounds); what is live after the last is in the summary's failures, as are the
meetings not yet tried when BATCH_SECONDS run out. One batch per app runs at a time
across copies (state.begin_batch, renewed while it runs); a press during one is told
so and gets its summary. Like stopping.py, it knows nothing of Bolt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot import audit, codec
from bot.access import Access, Denial
from bot.finding import ListFailed
from bot.realtimekit import (
    ApiError,
    LiveList,
    LiveStream,
    MeetingId,
    NoActiveLivestream,
    RateLimited,
    ReadFailure,
    RealtimeKitClient,
    Stopped,
    StopResult,
)
from bot.realtimekit.client import CALL_BUDGET_SECONDS
from bot.stopping import (
    AttemptAudit,
    StopRequest,
    StopService,
    api_status,
    expired,
    malformed_ids,
    new_request_id,
    outcome_name,
)

log = logging.getLogger(__name__)

# Past this, a batch stops waiting out 429s: the meetings left are reported failed.
BATCH_SECONDS = 600.0
# The batch slot outlives any batch (a copy that dies mid-batch frees it after this).
BATCH_LOCK_SECONDS = BATCH_SECONDS + 2 * CALL_BUDGET_SECONDS + 60.0
# How often a running batch renews its slot.
SLOT_RENEW_SECONDS = 60.0
# Rounds of stops: after each, the live list is read again for streams still live.
ROUNDS = 3
# How long a second press waits for the running batch's summary.
SUMMARY_WAIT_SECONDS = BATCH_LOCK_SECONDS
# How often a waiter re-reads the summary a batch in another copy will write.
SUMMARY_POLL_SECONDS = 0.5
# A 429 without a Retry-After: wait this long before trying again.
DEFAULT_RATE_LIMIT_WAIT = 5.0
# Why a meeting is in the summary's failures without an answer of the API's.
NOT_TRIED = ApiError(0, f"not tried: the batch's {BATCH_SECONDS / 60:g} minutes ran out")
STILL_LIVE = ApiError(0, "still live at the batch's last read of the live list")

RefusalReason = Literal[
    "disabled",  # neither ALLOWED_STOP_ALL_USER_IDS nor ALLOWED_STOP_ALL_USERGROUP_IDS
    "not_on_stop_all_list",
    "denied",  # a check every door makes: see `denial`
    "malformed_user",
    "malformed_channel",
    "malformed_button",
    "summary_gone",  # a retry of a batch whose summary is no longer kept
]


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


@dataclass(frozen=True)
class StopAllRefused:
    """Nothing was stopped: why (`denial` for the checks every door makes)."""

    request_id: str
    user_id: str
    reason: RefusalReason
    denial: Denial | None = None


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
        """As JSON, for state; `decode` gives it back."""
        return codec.encode(self)

    @classmethod
    def decode(cls, text: str) -> BatchSummary | None:
        """The summary `encode` wrote; None for anything else."""
        try:
            summary = codec.decode(text, (BatchSummary, FailedStop, *codec.RESULT_TYPES))
        except ValueError:
            return None
        return summary if isinstance(summary, BatchSummary) else None


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
class _Tally:
    live: int = 0
    tried: set[tuple[MeetingId, str]] = field(default_factory=set)  # (meeting, livestream id)
    stopped: int = 0
    ended: int = 0
    failed: list[FailedStop] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.stopped + self.ended + len(self.failed)


class StopAllService:
    """Decides who may stop everything, shows what is live, and runs the batch."""

    def __init__(
        self,
        service: StopService,
        client: RealtimeKitClient,
        access: Access,
        max_concurrency: int = 50,
    ) -> None:
        self._service = service
        self._client = client
        self.access = access  # the stop-all lists; the normal checks are service.access
        self.max_concurrency = max_concurrency
        self._finished: dict[str, asyncio.Event] = {}  # batches running in this process

    @property
    def enabled(self) -> bool:
        """True when someone may stop everything (either stop-all setting is set)."""
        policy = self.access.policy
        return bool(policy.user_ids or policy.usergroup_ids)

    async def confirm(self, request: StopAllRequest) -> Confirmation | ListFailed | StopAllRefused:
        """What is live now, for an allowed person to confirm."""
        request_id = new_request_id()
        refused = await self._check(request, request_id)
        if refused is not None:
            return refused
        listed = await self._client.list_live()
        if not isinstance(listed, LiveList):
            return ListFailed(request_id, request.user_id, listed)
        return Confirmation(request_id, listed.streams, time.time())

    async def press(
        self, request: StopAllRequest, progress: Progress | None = None
    ) -> PressOutcome:
        """Stop every live stream (or, with `retry_of`, those that batch failed to stop):
        once per person's rate limit, one batch at a time."""
        batch_id = new_request_id()
        refused = await self._check(request, batch_id)
        if refused is not None:
            return refused
        only: frozenset[MeetingId] | None = None
        if request.retry_of is not None:
            previous = await self._summary(request.retry_of)
            if previous is None or not previous.finished:
                return self._refuse(request, batch_id, "summary_gone")
            only = frozenset(f.meeting_id for f in previous.failed)
        running, _ = await self._service.state.begin_batch(batch_id, BATCH_LOCK_SECONDS)
        if running is not None:
            _audit_line(request, batch_id, "already_running", running_batch_id=running)
            (progress or NoProgress()).blocked()
            return AlreadyRunning(running, await self._wait_summary(running))
        finished = self._finished[batch_id] = asyncio.Event()
        ending = asyncio.Event()
        renewing = asyncio.ensure_future(self._keep_slot(batch_id, ending))
        try:
            # The rate limit counts the batch once, and only a batch that runs.
            retry_after, _ = await self._service.state.take(
                request.user_id, self._service.per_minute
            )
            if retry_after is not None:
                denial = Denial("rate_limited", retry_after=retry_after)
                return self._refuse(request, batch_id, "denied", denial)
            running_now = BatchSummary(
                batch_id, request.user_id, request.channel_id, finished=False,
                retry_of=request.retry_of,
            )  # fmt: skip
            await self._service.state.set_batch_summary(batch_id, running_now.encode())
            summary = await self._run(batch_id, request, progress or NoProgress(), only)
            await self._service.state.set_batch_summary(batch_id, summary.encode())
            return summary
        finally:
            ending.set()
            await renewing  # so that no renewal lands after the release
            await self._service.state.end_batch(batch_id)
            finished.set()
            del self._finished[batch_id]

    async def _keep_slot(self, batch_id: str, ending: asyncio.Event) -> None:
        """Renew the batch slot every SLOT_RENEW_SECONDS until `ending` is set: it must not
        expire under a running batch, only when the copy running it dies."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ending.wait(), SLOT_RENEW_SECONDS)
                return
            running, _ = await self._service.state.begin_batch(batch_id, BATCH_LOCK_SECONDS)
            if running is not None:
                log.warning("stop-all %s: the batch slot was lost to batch %s", batch_id, running)

    async def _run(
        self,
        batch_id: str,
        request: StopAllRequest,
        progress: Progress,
        only: frozenset[MeetingId] | None,
    ) -> BatchSummary:
        started = time.monotonic()
        deadline = started + BATCH_SECONDS
        tally = _Tally()

        def line(**fields: object) -> None:
            _audit_line(
                request, batch_id, "allowed", live=tally.live, stopped=tally.stopped,
                already_ended=tally.ended, failed=len(tally.failed), retry_of=request.retry_of,
                duration_ms=round((time.monotonic() - started) * 1000), **fields,
            )  # fmt: skip

        try:
            listed = await self._read_live(deadline)
            if not isinstance(listed, LiveList):
                line(outcome="list_failed", api_status=api_status(listed))
                return BatchSummary(
                    batch_id, request.user_id, request.channel_id, retry_of=request.retry_of,
                    list_failure=listed, duration_ms=round((time.monotonic() - started) * 1000),
                )  # fmt: skip
            await self._rounds(listed, batch_id, request, deadline, tally, progress, only)
            if only is not None:  # failed meetings no longer live have ended since
                ended = only - {m for m, _ in tally.tried} - {f.meeting_id for f in tally.failed}
                tally.ended += len(ended)
                tally.live += len(ended)
        except asyncio.CancelledError:
            line(outcome="interrupted")
            raise
        line(outcome="done")
        return BatchSummary(
            batch_id, request.user_id, request.channel_id, tally.live, tally.stopped,
            tally.ended, tuple(tally.failed), retry_of=request.retry_of,
            duration_ms=round((time.monotonic() - started) * 1000),
        )  # fmt: skip

    async def _rounds(
        self,
        listed: LiveList,
        batch_id: str,
        request: StopAllRequest,
        deadline: float,
        tally: _Tally,
        progress: Progress,
        only: frozenset[MeetingId] | None,
    ) -> None:
        """Stop what `listed` shows, then read the list again and stop what is still live,
        at most ROUNDS times: a stream can end between two pages of one read (the later
        pages shift and one is never seen), or start during the batch."""
        for round_no in range(ROUNDS + 1):
            streams = [
                s for s in listed.streams
                if (s.meeting_id, s.id) not in tally.tried
                and (only is None or s.meeting_id in only)
            ]  # fmt: skip
            if not streams:
                return
            tally.live += len(streams)
            if round_no == ROUNDS or time.monotonic() >= deadline:
                for s in streams:  # not tried: each still gets its line
                    tally.failed.append(FailedStop(s.meeting_id, s.name, STILL_LIVE))
                    AttemptAudit("stop", _stop_request(request, s.meeting_id), batch_id).write(
                        s.meeting_id, "allowed", outcome="still_live", batch_id=batch_id
                    )
                return
            tally.tried.update((s.meeting_id, s.id) for s in streams)
            progress.listed(tally.live)
            queue = deque(streams)
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.max_concurrency, len(streams))):
                    group.create_task(
                        self._work(queue, batch_id, request, deadline, tally, progress)
                    )
            if time.monotonic() >= deadline:
                return  # those left were not tried, and say so
            again = await self._read_live(deadline)
            if not isinstance(again, LiveList):
                log.warning("stop-all %s: could not read the live list again", batch_id)
                return
            listed = again

    async def _work(
        self,
        queue: deque[LiveStream],
        batch_id: str,
        request: StopAllRequest,
        deadline: float,
        tally: _Tally,
        progress: Progress,
    ) -> None:
        """One of the batch's workers: stop meetings from `queue` until it is empty."""
        while queue:
            stream = queue.popleft()
            attempt = AttemptAudit("stop", _stop_request(request, stream.meeting_id), batch_id)
            if time.monotonic() >= deadline:  # those left are not tried, and say so
                tally.failed.append(FailedStop(stream.meeting_id, stream.name, NOT_TRIED))
                attempt.write(stream.meeting_id, "allowed", outcome="not_tried", batch_id=batch_id)
                _advanced(progress, tally.done, tally.live)
                continue
            try:
                flight = await self._service.stop_shared(stream.meeting_id)
            except Exception:
                # One meeting's unexpected error must not cancel the rest of the batch.
                log.exception("stop-all %s: unexpected error for %s", batch_id, stream.meeting_id)
                error = ApiError(0, f"unexpected error in the bot (ref: {batch_id})")
                tally.failed.append(FailedStop(stream.meeting_id, stream.name, error))
                attempt.write(stream.meeting_id, "error", outcome="error", batch_id=batch_id)
                _advanced(progress, tally.done, tally.live)
                continue
            result = flight.value
            if isinstance(result, RateLimited) and time.monotonic() < deadline:
                # Not a failure: wait as the API asked, then try this meeting again.
                wait = result.retry_after
                wait = DEFAULT_RATE_LIMIT_WAIT if wait is None else wait
                await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
                queue.append(stream)
                continue
            outcome = outcome_name(result)
            match result:
                case Stopped():
                    tally.stopped += 1
                case NoActiveLivestream():
                    tally.ended += 1
                case failure:
                    tally.failed.append(FailedStop(stream.meeting_id, stream.name, failure))
            attempt.write(
                stream.meeting_id, "allowed", api_status=api_status(result), outcome=outcome,
                shared=flight.joined, state=flight.where, batch_id=batch_id,
            )  # fmt: skip
            _advanced(progress, tally.done, tally.live)

    async def _read_live(self, deadline: float) -> LiveList | ReadFailure:
        """The live list, waiting out 429s until `deadline`."""
        while True:
            listed = await self._client.list_live()
            if not isinstance(listed, RateLimited) or time.monotonic() >= deadline:
                return listed
            wait = DEFAULT_RATE_LIMIT_WAIT if listed.retry_after is None else listed.retry_after
            await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))

    async def _check(self, request: StopAllRequest, request_id: str) -> StopAllRefused | None:
        """None when the person may stop everything here and now; else the refusal,
        audited. The stop-all lists come on top of every check a single stop makes."""
        problem = malformed_ids(request.user_id, request.channel_id)
        if problem is not None:
            return self._refuse(request, request_id, problem)
        if request.pressed and request.issued_at is None:
            return self._refuse(request, request_id, "malformed_button")
        too_old = expired(request.issued_at)
        if too_old is not None:
            return self._refuse(request, request_id, "denied", too_old)
        denial = await self._service.access.check(
            request.user_id, request.channel_id, request.team_id
        )
        if denial is not None:
            return self._refuse(request, request_id, "denied", denial)
        if not self.enabled:
            return self._refuse(request, request_id, "disabled")
        denial = await self.access.check(request.user_id, None, request.team_id)
        if denial is not None and denial.reason == "not_allowed":
            return self._refuse(request, request_id, "not_on_stop_all_list")
        if denial is not None:
            return self._refuse(request, request_id, "denied", denial)
        return None

    @staticmethod
    def _refuse(
        request: StopAllRequest,
        request_id: str,
        reason: RefusalReason,
        denial: Denial | None = None,
    ) -> StopAllRefused:
        decision = "invalid" if reason.startswith("malformed") else "denied"
        _audit_line(
            request, request_id, decision,
            reason=denial.reason if denial is not None else reason, retry_of=request.retry_of,
        )  # fmt: skip
        return StopAllRefused(request_id, request.user_id, reason, denial)

    async def _summary(self, batch_id: str) -> BatchSummary | None:
        text, _ = await self._service.state.get_batch_summary(batch_id)
        return None if text is None else BatchSummary.decode(text)

    async def _wait_summary(self, batch_id: str) -> BatchSummary | None:
        """The running batch's summary once it is finished, waiting at most
        SUMMARY_WAIT_SECONDS: woken at once by a batch in this process, re-read every
        SUMMARY_POLL_SECONDS for one in another copy."""
        until = time.monotonic() + SUMMARY_WAIT_SECONDS
        here = self._finished.get(batch_id)
        while True:
            ended_here = here is not None and here.is_set()
            summary = await self._summary(batch_id)
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


def _advanced(progress: Progress, done: int, total: int) -> None:
    """Tell the door about progress; its trouble never stops the batch."""
    try:
        progress.advanced(done, total)
    except Exception:
        log.exception("stop-all: could not report progress")


def _stop_request(request: StopAllRequest, meeting_id: str) -> StopRequest:
    return StopRequest(
        door="stop_all",
        user_id=request.user_id,
        meeting_text=meeting_id,
        team_id=request.team_id,
        channel_id=request.channel_id,
    )


def _audit_line(request: StopAllRequest, batch_id: str, decision: str, **fields: object) -> None:
    """The batch's own line (`"event": "stop_all"`): who, where, and the totals."""
    audit.write(
        "stop_all",
        request_id=batch_id,
        batch_id=batch_id,
        door="stop_all",
        team_id=request.team_id,
        user_id=request.user_id,
        channel_id=request.channel_id,
        decision=decision,
        **fields,
    )


__all__ = [
    "BATCH_LOCK_SECONDS",
    "BATCH_SECONDS",
    "AlreadyRunning",
    "BatchSummary",
    "Confirmation",
    "FailedStop",
    "ListFailed",
    "NoProgress",
    "PressOutcome",
    "Progress",
    "StopAllRefused",
    "StopAllRequest",
    "StopAllService",
]
