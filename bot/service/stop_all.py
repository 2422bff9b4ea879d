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
    StopAllRefused,
    StopAllRequest,
    Tally,
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

    @property
    def enabled(self) -> bool:
        """True when someone may stop everything (either stop-all setting is set)."""
        policy = self.access.policy
        return bool(policy.user_ids or policy.usergroup_ids)

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
        self,
        audit: Audit,
        request: StopAllRequest,
        progress: Progress,
        only: frozenset[MeetingId] | None,
    ) -> BatchSummary:
        batch_id, started = audit.request_id, time.monotonic()
        deadline = started + BATCH_SECONDS
        tally = Tally()

        def line(**fields: object) -> None:
            audit.write(
                None, "allowed", live=tally.live, stopped=tally.stopped,
                already_ended=tally.ended, failed=len(tally.failed), **fields,
            )  # fmt: skip

        try:
            listed = await self._read_live(deadline)
            if not isinstance(listed, LiveList):
                line(outcome="list_failed", api_status=api_status(listed))
                return BatchSummary(
                    batch_id, request.user_id, request.channel_id, retry_of=request.retry_of,
                    list_failure=listed, duration_ms=round((time.monotonic() - started) * 1000),
                )  # fmt: skip
            await self._rounds(listed, audit, request, deadline, tally, progress, only)
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
        audit: Audit,
        request: StopAllRequest,
        deadline: float,
        tally: Tally,
        progress: Progress,
        only: frozenset[MeetingId] | None,
    ) -> None:
        """Stop what `listed` shows, then read the list again and stop what is still live,
        at most ROUNDS times: a stream can end between two pages of one read (the later
        pages shift and one is never seen), or start during the batch."""
        batch_id = audit.request_id
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
                    _meeting_audit(request, s.meeting_id, batch_id).write(
                        s.meeting_id, "allowed", outcome="still_live"
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
        tally: Tally,
        progress: Progress,
    ) -> None:
        """One of the batch's workers: stop meetings from `queue` until it is empty."""
        while queue:
            stream = queue.popleft()
            meeting_id = stream.meeting_id
            attempt = _meeting_audit(request, meeting_id, batch_id)
            if time.monotonic() >= deadline:  # those left are not tried, and say so
                tally.failed.append(FailedStop(meeting_id, stream.name, NOT_TRIED))
                attempt.write(meeting_id, "allowed", outcome="not_tried")
                _advanced(progress, tally.done, tally.live)
                continue
            try:
                flight = await self._service.stop_shared(meeting_id)
            except Exception:
                # One meeting's unexpected error must not cancel the rest of the batch.
                log.exception("stop-all %s: unexpected error for %s", batch_id, meeting_id)
                error = ApiError(0, f"unexpected error in the bot (ref: {batch_id})")
                tally.failed.append(FailedStop(meeting_id, stream.name, error))
                attempt.write(meeting_id, "error", outcome="error")
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
            match result:
                case Stopped():
                    tally.stopped += 1
                case NoActiveLivestream():
                    tally.ended += 1
                case failure:
                    tally.failed.append(FailedStop(meeting_id, stream.name, failure))
            attempt.write(
                meeting_id, "allowed", api_status=api_status(result),
                outcome=outcome_name(result), shared=flight.joined, state=flight.where,
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


def _advanced(progress: Progress, done: int, total: int) -> None:
    """Tell the door about progress; its trouble never stops the batch."""
    try:
        progress.advanced(done, total)
    except Exception:
        log.exception("stop-all: could not report progress")


def _audit(request: StopAllRequest, batch_id: str) -> Audit:
    """The batch's own lines (`"event": "stop_all"`): who, where, and the totals."""
    return Audit(
        "stop_all", request.as_stop(), batch_id, batch_id=batch_id, retry_of=request.retry_of
    )


def _meeting_audit(request: StopAllRequest, meeting_id: MeetingId, batch_id: str) -> Audit:
    """One meeting's stop line within the batch (`"event": "stop"`)."""
    return Audit("stop", request.as_stop(meeting_id), batch_id, batch_id=batch_id)
