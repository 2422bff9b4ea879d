"""What every listener shares: its dependencies (put on Bolt's context by one middleware
in bot.app), a defensive read of nested payload fields, and a stop with its names read
alongside."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot import messages
from bot.listeners.background import Background
from bot.listeners.reply import Replier, To
from bot.messages import Reply
from bot.realtimekit import MeetingId
from bot.service.admit import StopRequest
from bot.service.live import FindService
from bot.service.names import NAMES_WAIT_SECONDS, Names
from bot.service.stop import Outcome, Redelivered, StopService
from bot.service.stop_all import StopAllService

log = logging.getLogger(__name__)

CONTEXT_KEY = "deps"


@dataclass(frozen=True)
class Deps:
    """The use cases and the replier, wired once in bot.app."""

    service: StopService
    finder: FindService
    stop_all: StopAllService
    replier: Replier
    background: Background
    confirm_first: bool = False  # the command shows the status card instead of stopping

    def run(self, work: Coroutine[Any, Any, object], to: To) -> None:
        """Run `work` after the ack; an error or a shutdown is reported `to` the person."""
        self.background.run(work, partial(self.replier.send, to))

    @staticmethod
    def of(context: AsyncBoltContext) -> Deps:
        """The dependencies the middleware put on `context`."""
        deps = context.get(CONTEXT_KEY)
        if not isinstance(deps, Deps):
            raise RuntimeError("no dependencies on the context: is the middleware installed?")
        return deps


def text_at(body: object, *path: str) -> str | None:
    """The non-empty string at `path` in nested dicts, or None when any step is missing
    or of another type (for fields a signed payload may still carry oddly)."""
    node: Any = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, str) and node else None


async def stop_with_names(
    deps: Deps, request: StopRequest, *, note: To | None = None, known: Names | None = None
) -> tuple[Outcome, Names | None]:
    """Stop; once the API call is under way (never before), send the "Stopping…" `note`
    and read the meeting's names beside it. The names read within NAMES_WAIT_SECONDS of
    that start are returned with the outcome (`known` ones need no read), so a slow stop
    is never held up by them and a quick one waits at most that long."""
    loop = asyncio.get_running_loop()
    notes: list[asyncio.Future[None]] = []
    reads: list[asyncio.Future[str | None]] = []
    deadline = 0.0

    def under_way(meeting_id: MeetingId) -> None:
        nonlocal deadline
        deadline = loop.time() + NAMES_WAIT_SECONDS
        if note is not None:
            notes.append(
                asyncio.ensure_future(deps.replier.send(note, messages.stopping(meeting_id)))
            )
        if known is None:
            reads.append(asyncio.ensure_future(deps.finder.stream_name(meeting_id)))
            reads.append(asyncio.ensure_future(deps.finder.title(meeting_id, NAMES_WAIT_SECONDS)))

    try:
        outcome = await deps.service.stop(request, under_way)
        if reads and (left := deadline - loop.time()) > 0:
            await asyncio.wait(reads, timeout=left)
    finally:
        for read in reads:
            read.cancel()  # the shared reads they wait on go on, for the caches
    names = Names(*map(_value, reads)) if reads else known
    for sent in notes:
        await sent  # the outcome follows the note
    return outcome, names if names != Names() else None


async def stop_and_reply(
    deps: Deps, request: StopRequest, to: To, *, note: bool = False, pressed: Reply | None = None
) -> None:
    """Stop and reply with what happened. With `note`, "Stopping…" goes out once the API
    call is under way; `pressed` (a card's replacement) goes out alongside the stop from
    its start. The outcome follows either."""
    card = asyncio.ensure_future(deps.replier.send(to, pressed)) if pressed else None
    outcome, names = await stop_with_names(deps, request, note=to if note else None)
    if card is not None:
        await card
    if not isinstance(outcome, Redelivered):
        await deps.replier.send(to, messages.render(outcome, names), outcome.request_id)


def _value(read: asyncio.Future[str | None]) -> str | None:
    if not read.done() or read.cancelled():
        return None
    if read.exception() is not None:
        log.warning("a name read failed: %r", read.exception())
        return None
    return read.result()
