"""The slash command: `/stop-livestream [list | help | status <id> | all | <id>]`."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot import messages
from bot.listeners import stop_all
from bot.listeners.buttons import show_page
from bot.listeners.deps import Deps, stop_and_reply
from bot.listeners.reply import To
from bot.service.admit import StopRequest
from bot.service.names import NAMES_WAIT_SECONDS
from bot.service.stop import Looked

COMMAND = messages.COMMAND


async def on_command(ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
    """No text (or `list`) lists what is live; `help` shows the usage; `status <id>`
    the status card; `all` goes to the stop-all door; anything else is a meeting to
    stop (or, with REQUIRE_CONFIRMATION, whose status card to show)."""
    text = command.get("text")
    text = text if isinstance(text, str) else ""
    words = text.split(maxsplit=1)
    word = words[0].lower() if words else ""
    rest = words[1].strip() if len(words) > 1 else ""
    if word == "help":
        usage = messages.usage()
        await ack(text=usage.text, blocks=usage.blocks)
        return
    await ack()
    deps = Deps.of(context)
    to = To(response_url=context.response_url)
    if word == "all" and not rest:
        stop_all.confirm(deps, context, to)
        return
    wants_status = word == "status"
    request = StopRequest(
        door="command",
        user_id=context.user_id or "",
        meeting_text=rest if wants_status else text.strip(),
        team_id=context.team_id,
        channel_id=context.channel_id,
    )
    if word in ("", "list") and not rest:
        work = show_page(deps, request, to)
    elif wants_status or deps.confirm_first:
        work = status(deps, request, to, asked_to_stop=not wants_status)
    else:
        work = stop_and_reply(deps, request, to, note=True)
    deps.run(work, to)


async def status(deps: Deps, request: StopRequest, to: To, *, asked_to_stop: bool) -> None:
    """The status card, naming the meeting when its title is read in time."""
    looked = await deps.service.status(request)
    title = None
    if isinstance(looked, Looked):
        title = await deps.finder.title_within(looked.meeting_id, NAMES_WAIT_SECONDS)
    card = messages.status_card(looked, time.time(), asked_to_stop=asked_to_stop, title=title)
    await deps.replier.send(to, card, looked.request_id)


def register(app: AsyncApp) -> None:
    """Attach the slash command."""
    app.command(COMMAND)(on_command)
