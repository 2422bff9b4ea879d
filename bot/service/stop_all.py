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
so and gets its summary. It knows nothing of Bolt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from bot.access import Access, Denial
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
)
from bot.realtimekit.client import CALL_BUDGET_SECONDS
from bot.service.admit import (
    Admitted,
    Audit,
    Denied,
    Invalid,
    api_status,
    new_request_id,
    outcome_name,
)
from bot.service.batch import (
    AlreadyRunning,
    BatchSlot,
    BatchSummary,
    Confirmation,
    FailedStop,
    NoProgress,
    PressOutcome,
    Progress,
    Run,
    StopAllRefused,
    StopAllRequest,
)
from bot.service.live import ListFailed
from bot.service.stop import StopService

log = logging.getLogger(__name__)

# Past this, a batch stops waiting out 429s: the meetings left are reported failed.
BATCH_SECONDS = 600.0
# The batch slot outlives any batch (a copy that dies mid-batch frees it after this).
BATCH_LOCK_SECONDS = BATCH_SECONDS + 2 * CALL_BUDGET_SECONDS + 60.0
# Rounds of stops: after each, the live list is read again for streams still live.
ROUNDS = 3
# A 429 without a Retry-After: wait this long before trying again.
DEFAULT_RATE_LIMIT_WAIT = 5.0
# Why a meeting is in the summary's failures without an answer of the API's.
NOT_TRIED = ApiError(0, f"not tried: the batch's {BATCH_SECONDS / 60:g} minutes ran out")
STILL_LIVE = ApiError(0, "still live at the batch's last read of the live list")


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
        self._slot = BatchSlot(service.state, BATCH_LOCK_SECONDS)

    async def confirm(self, request: StopAllRequest) -> Confirmation | ListFailed | StopAllRefused:
        """What is live now, for an allowed person to confirm."""
        audit = _audit(request, new_request_id())
        admitted = await self._admit(request, audit)
        if not isinstance(admitted, Admitted):
            return StopAllRefused(admitted)
        listed = await self._client.list_live()
        if not isinstance(listed, LiveList):
            return ListFailed(audit.request_id, request.user_id, listed)
        return Confirmation(audit.request_id, listed.streams, time.time())

    async def press(
        self, request: StopAllRequest, progress: Progress | None = None
    ) -> PressOutcome:
        """Stop every live stream (or, with `retry_of`, those that batch failed to stop):
        once per person's rate limit, one batch at a time."""
        batch_id = new_request_id()
        audit = _audit(request, batch_id)
        admitted = await self._admit(request, audit)
        if not isinstance(admitted, Admitted):
            return StopAllRefused(admitted)
        only: frozenset[MeetingId] | None = None
        if request.retry_of is not None:
            previous = await self._slot.summary(request.retry_of)
            if previous is None or not previous.finished:
                return self._refuse(audit, request, Denial("summary_gone"))
            only = frozenset(f.meeting_id for f in previous.failed)
        state = self._service.state
        running, _ = await state.begin_batch(batch_id, BATCH_LOCK_SECONDS)
        if running is not None:
            audit.write(None, "already_running", running_batch_id=running)
            (progress or NoProgress()).blocked()
            return AlreadyRunning(running, await self._slot.wait_summary(running))
        async with self._slot.held(batch_id):
            # The rate limit counts the batch once, and only a batch that runs.
            retry_after, _ = await state.take(request.user_id, self._service.per_minute)
            if retry_after is not None:
                return self._refuse(audit, request, Denial("rate_limited", retry_after=retry_after))
            running_now = BatchSummary(
                batch_id, request.user_id, request.channel_id, finished=False,
                retry_of=request.retry_of,
            )  # fmt: skip
            await state.set_batch_summary(batch_id, running_now.encode())
            summary = await self._run(audit, request, progress or NoProgress(), only)
            await state.set_batch_summary(batch_id, summary.encode())
            return summary

    async def _admit(self, request: StopAllRequest, audit: Audit) -> Admitted | Invalid | Denied:
        """The admission every door makes, with the stop-all list on top."""
        return await self._service.admit(
            request.as_stop(), audit, meeting=False, pressed=request.pressed,
            stop_all=self.access,
        )  # fmt: skip

    @staticmethod
    def _refuse(audit: Audit, request: StopAllRequest, denial: Denial) -> StopAllRefused:
        audit.write(None, "denied", reason=denial.reason, detail=denial.detail or None)
        return StopAllRefused(Denied(audit.request_id, request.user_id, MeetingId(""), denial))

    async def _run(
        self, audit: Audit, request: StopAllRequest, progress: Progress,
        only: frozenset[MeetingId] | None,
    ) -> BatchSummary:  # fmt: skip
        run = Run(request, audit, time.monotonic() + BATCH_SECONDS, progress, only)
        try:
            listed = await self._read_live(run.deadline)
            if not isinstance(listed, LiveList):
                run.line(outcome="list_failed", api_status=api_status(listed))
                return run.summary(list_failure=listed)
            await self._rounds(listed, run)
            if only is not None:  # failed meetings no longer live have ended since
                ended = only - {m for m, _ in run.tried} - {f.meeting_id for f in run.failed}
                run.ended += len(ended)
                run.live += len(ended)
        except asyncio.CancelledError:
            run.line(outcome="interrupted")
            raise
        run.line(outcome="done")
        return run.summary()

    async def _rounds(self, listed: LiveList, run: Run) -> None:
        """Stop what `listed` shows, then read the list again and stop what is still live,
        at most ROUNDS times: a stream can end between two pages of one read (the later
        pages shift and one is never seen), or start during the batch."""
        for round_no in range(ROUNDS + 1):
            streams = [
                s for s in listed.streams
                if (s.meeting_id, s.id) not in run.tried
                and (run.only is None or s.meeting_id in run.only)
            ]  # fmt: skip
            if not streams:
                return
            run.live += len(streams)
            if round_no == ROUNDS or time.monotonic() >= run.deadline:
                for s in streams:  # not tried: each still gets its line
                    run.failed.append(FailedStop(s.meeting_id, s.name, STILL_LIVE))
                    run.audit_of(s.meeting_id).write(s.meeting_id, "allowed", outcome="still_live")
                return
            run.tried.update((s.meeting_id, s.id) for s in streams)
            run.progress.listed(run.live)
            queue = deque(streams)
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.max_concurrency, len(streams))):
                    group.create_task(self._work(queue, run))
            if time.monotonic() >= run.deadline:
                return  # those left were not tried, and say so
            again = await self._read_live(run.deadline)
            if not isinstance(again, LiveList):
                log.warning("stop-all %s: could not read the live list again", run.batch_id)
                return
            listed = again

    async def _work(self, queue: deque[LiveStream], run: Run) -> None:
        """One of the batch's workers: stop meetings from `queue` until it is empty."""
        while queue:
            stream = queue.popleft()
            meeting_id = stream.meeting_id
            attempt = run.audit_of(meeting_id)
            if time.monotonic() >= run.deadline:  # those left are not tried, and say so
                attempt.write(meeting_id, "allowed", outcome="not_tried")
                run.fail(stream, NOT_TRIED)
                continue
            try:
                flight = await self._service.stop_shared(meeting_id)
            except Exception:
                # One meeting's unexpected error must not cancel the rest of the batch.
                log.exception("stop-all %s: unexpected error for %s", run.batch_id, meeting_id)
                attempt.write(meeting_id, "error", outcome="error")
                run.fail(stream, ApiError(0, f"unexpected error in the bot (ref: {run.batch_id})"))
                continue
            result = flight.value
            if isinstance(result, RateLimited) and time.monotonic() < run.deadline:
                # Not a failure: wait as the API asked, then try this meeting again.
                await _wait_out(result, run.deadline)
                queue.append(stream)
                continue
            attempt.write(
                meeting_id, "allowed", api_status=api_status(result),
                outcome=outcome_name(result), shared=flight.joined, state=flight.where,
            )  # fmt: skip
            match result:
                case Stopped():
                    run.stopped += 1
                    run.advanced()
                case NoActiveLivestream():
                    run.ended += 1
                    run.advanced()
                case failure:
                    run.fail(stream, failure)

    async def _read_live(self, deadline: float) -> LiveList | ReadFailure:
        """The live list, waiting out 429s until `deadline`."""
        while True:
            listed = await self._client.list_live()
            if not isinstance(listed, RateLimited) or time.monotonic() >= deadline:
                return listed
            await _wait_out(listed, deadline)


async def _wait_out(limited: RateLimited, deadline: float) -> None:
    """Wait as a 429 asked (DEFAULT_RATE_LIMIT_WAIT without a Retry-After), at most
    until `deadline`."""
    wait = DEFAULT_RATE_LIMIT_WAIT if limited.retry_after is None else limited.retry_after
    await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))


def _audit(request: StopAllRequest, batch_id: str) -> Audit:
    """The batch's own lines (`"event": "stop_all"`): who, where, and the totals."""
    return Audit(
        "stop_all", request.as_stop(), batch_id, batch_id=batch_id, retry_of=request.retry_of
    )
