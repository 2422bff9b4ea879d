"""The listeners' work after the ack: tracked so shutdown can wait for it, and guarded so
no exception reaches a person as a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bot import messages
from bot.messages import Reply
from bot.service.admit import new_request_id
from bot.service.stop import StopCrashed

log = logging.getLogger(__name__)

Deliver = Callable[[Reply], Awaitable[Any]]
# How long a person's "the bot restarted" reply may take while the bot shuts down.
INTERRUPTED_REPLY_SECONDS = 2.0


class Background:
    """The work in flight after Slack got its ack. `stop_sending` is called when the
    drain begins: work not yet sent to the API then ends at once (and says so)."""

    def __init__(self, stop_sending: Callable[[], None] = lambda: None) -> None:
        self._stop_sending = stop_sending
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._quiet = False  # set when told to stop at once: no more replies

    def run(self, work: Coroutine[Any, Any, object], deliver: Deliver) -> None:
        """Run `work` in the background. An unexpected error gets the person a reference
        to quote; work cut off by shutdown tells them the bot restarted."""
        task = asyncio.ensure_future(self._guarded(work, deliver))
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._finished)

    async def _guarded(self, work: Coroutine[Any, Any, object], deliver: Deliver) -> None:
        try:
            await work
            return
        except asyncio.CancelledError:
            if not self._quiet:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        deliver(messages.interrupted()), INTERRUPTED_REPLY_SECONDS
                    )
            raise
        except StopCrashed as crash:
            ref = crash.request_id  # already logged with its traceback
        except Exception:
            ref = new_request_id()
            log.exception("unexpected error (ref: %s)", ref, extra={"request_id": ref})
        try:
            await deliver(messages.something_went_wrong(ref))
        except Exception:
            log.exception(
                "could not tell the person about error %s", ref, extra={"request_id": ref}
            )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def drain(self, within: float, hurry: asyncio.Event | None = None) -> bool:
        """Wait up to `within` s (or until `hurry` is set) for work in flight; then cancel
        what is left, which still audits and, unless hurried, replies. True if all of it
        finished in time."""
        self._stop_sending()
        await first_set(self._idle, *([hurry] if hurry else []), within=within)
        if self._idle.is_set():
            return True
        self._quiet = hurry is not None and hurry.is_set()
        left = list(self._tasks)
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=INTERRUPTED_REPLY_SECONDS + 1)
        return False


async def first_set(*events: asyncio.Event, within: float | None = None) -> bool:
    """Wait until any of `events` is set (or `within` s pass); True if one is."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    done, pending = await asyncio.wait(waits, timeout=within, return_when="FIRST_COMPLETED")
    for waiting in pending:
        waiting.cancel()
    return bool(done)
