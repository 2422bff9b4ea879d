"""The stop-all door: `/stop-livestream all` (command.py hands that word here), the
confirmation's button `stop_all_livestreams`, and the summary's `stop_all_retry`.

Both buttons carry `<what>|<shown at, Unix seconds>` (`all`, or the batch id whose
failed meetings to try again) and expire 5 minutes after they were shown."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.listeners.background import first_set
from bot.listeners.buttons import Press
from bot.listeners.deps import Deps
from bot.listeners.reply import Replier, To
from bot.messages import Reply
from bot.messages import stop_all as views
from bot.service.batch import (
    AlreadyRunning,
    BatchSummary,
    Confirmation,
    StopAllRefused,
    StopAllRequest,
)
from bot.service.live import ListFailed

log = logging.getLogger(__name__)

# Slack accepts at most 5 posts to one response_url within 30 minutes (its "Handling
# user interaction" guide); a 6th is refused. PrivateProgress never sends more.
RESPONSE_URL_USES = 5
PROGRESS_UPDATES = 3
PROGRESS_GAP_SECONDS = 1.0  # at least this long between two progress updates


class PrivateProgress:
    """The person's private view of a batch, through the press's response_url.

    The 5 uses are budgeted: (1) "reading what is live…" at once, replacing the
    confirmation so it cannot be pressed again; (2-4) at most PROGRESS_UPDATES
    "X of N done" updates, the first once the list is read, then 1 s, 2 s... apart
    (at least PROGRESS_GAP_SECONDS, so at most once a second); (5) the last line, or the
    summary itself in the channel when the bot could not post there. A second press
    uses two: "already running" and the running batch's summary. Sends go out one at
    a time, in order, so a late update never replaces the last line."""

    def __init__(
        self,
        replier: Replier,
        response_url: str | None,
        *,
        replace: bool,
        updates: int = PROGRESS_UPDATES,
    ) -> None:
        self._replier = replier
        self._url = response_url
        self._replace = replace
        self._updates = updates
        self._done = 0
        self._total = 0
        self._news = asyncio.Event()
        self._ended = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._last: asyncio.Future[None] | None = None
        self.uses = 0

    def later(self, reply: Reply, request_id: str | None = None) -> asyncio.Future[None]:
        """Send `reply` after every send before it."""
        self._last = asyncio.ensure_future(self._after(self._last, reply, request_id))
        return self._last

    async def say(self, reply: Reply, request_id: str | None = None) -> None:
        """Send `reply` (after those before it) and wait until it is sent."""
        await self.later(reply, request_id)

    async def _after(
        self, previous: asyncio.Future[None] | None, reply: Reply, request_id: str | None
    ) -> None:
        if previous is not None:
            await previous
        if self._url is None:
            return
        if self.uses >= RESPONSE_URL_USES:
            log.warning("not sent: this response_url was already used %d times", self.uses)
            return
        self.uses += 1
        # A public reply is a new channel message; a private one replaces the card.
        replace = self._replace and not reply.public
        await self._replier.respond(self._url, reply, request_id, replace_original=replace)

    def listed(self, total: int) -> None:
        """The batch knows how many it will try: start the progress updates."""
        self._total = total
        self._news.set()
        if self._updates > 0 and self._loop is None:
            self._loop = asyncio.ensure_future(self._updating())

    def advanced(self, done: int, total: int) -> None:
        """One more meeting has its outcome."""
        self._done, self._total = done, total
        self._news.set()

    def blocked(self) -> None:
        """Another batch is running: say so now; its summary follows."""
        self.later(views.already_running(None))

    async def close(self) -> None:
        """No more updates; wait for those under way."""
        self._ended.set()
        if self._loop is not None:
            await self._loop
        if self._last is not None:
            await self._last

    async def _updating(self) -> None:
        gap = PROGRESS_GAP_SECONDS
        for _ in range(self._updates):
            await first_set(self._news, self._ended)
            if self._ended.is_set():
                return
            self._news.clear()
            await self.say(views.progress(self._done, self._total))
            if await first_set(self._ended, within=gap):
                return
            gap *= 2


def confirm(deps: Deps, context: AsyncBoltContext, to: To) -> None:
    """`/stop-livestream all` (already acked): the private confirmation, or why not."""
    request = StopAllRequest(
        user_id=context.user_id or "", team_id=context.team_id, channel_id=context.channel_id
    )

    async def work() -> None:
        shown = await deps.stop_all.confirm(request)
        match shown:
            case Confirmation():
                await deps.replier.send(to, views.confirmation(shown))
            case ListFailed():
                await deps.replier.send(to, views.list_failed(shown))
            case StopAllRefused():
                await deps.replier.send(to, views.refused(shown))

    deps.run(work(), to)


async def on_press(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """The confirmation's button stops everything that is live; the summary's retry
    button tries the batch's failed meetings again."""
    await ack()
    _press(body, context, retry=body["actions"][0]["action_id"] == views.RETRY_ACTION_ID)


def _press(body: dict[str, Any], context: AsyncBoltContext, *, retry: bool) -> None:
    deps, press = Deps.of(context), Press.of(body)
    progress = PrivateProgress(
        deps.replier,
        context.response_url,
        replace=press.on_card,
        updates=0 if retry else PROGRESS_UPDATES,
    )
    request = StopAllRequest(
        user_id=press.user_id,
        team_id=context.team_id,
        channel_id=press.channel_id,
        issued_at=press.issued_at,
        pressed=True,
        retry_of=press.what if retry else None,
    )
    channel_id = press.channel_id

    async def work() -> None:
        progress.later(views.retrying() if retry else views.reading())
        try:
            outcome = await deps.stop_all.press(request, progress)
        finally:
            await progress.close()
        match outcome:
            case StopAllRefused():
                await progress.say(views.refused(outcome))
            case AlreadyRunning():
                await progress.say(views.already_running(outcome))
            case BatchSummary():
                await _report(outcome, channel_id, deps.replier, progress)

    deps.background.run(work(), progress.say)


async def _report(
    done: BatchSummary, channel_id: str | None, replier: Replier, progress: PrivateProgress
) -> None:
    """The one summary post in the channel, then the person's last private line."""
    summary = views.summary(done, time.time())
    if done.list_failure is None and channel_id is not None:
        try:
            await replier.post(channel_id, summary)
        except Exception as error:  # not in the channel, Slack down...: use the response_url
            log.warning("could not post the stop-all summary to the channel: %s", error)
        else:
            await progress.say(views.finished(done, in_channel=True))
            return
    if done.list_failure is not None:
        await progress.say(views.finished(done, in_channel=False))
        return
    await progress.say(summary)  # in the channel, through the response_url


def register(app: AsyncApp) -> None:
    """Attach the confirmation's button and the summary's retry button."""
    app.action(views.CONFIRM_ACTION_ID)(on_press)
    app.action(views.RETRY_ACTION_ID)(on_press)
