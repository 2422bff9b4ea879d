"""The slash command: `/stop-livestream [list | help | status <id> | all | <id>]`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import messages
from bot.doors import listing
from bot.doors import stop_all as stop_all_door
from bot.doors.background import Background
from bot.doors.fields import text_at
from bot.doors.outbox import Outbox
from bot.messages import Reply
from bot.realtimekit import MeetingId
from bot.service.admit import StopRequest
from bot.service.live import FindService
from bot.service.names import NAMES_WAIT_SECONDS, stop_named
from bot.service.stop import Looked, Redelivered, StopService
from bot.service.stop_all import StopAllService

COMMAND = messages.COMMAND


def register(
    app: AsyncApp,
    service: StopService,
    outbox: Outbox,
    background: Background,
    confirm_first: bool = False,
    finder: FindService | None = None,
    stop_all: StopAllService | None = None,
) -> None:
    """Attach the slash command. With `confirm_first`, it shows the status card instead
    of stopping; with `finder`, no text (or `list`) lists what is live and the replies
    name the livestream and its meeting; `all` goes to the stop-all door."""

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = text_at(body, "text") or ""
        words = text.split(maxsplit=1)
        word = words[0].lower() if words else ""
        rest = words[1] if len(words) > 1 else ""
        if word == "help" or (word == "" and finder is None):
            usage = messages.usage()
            await ack(text=usage.text, blocks=usage.blocks)
            return
        await ack()
        if word == "all" and not rest and stop_all is not None:
            stop_all_door.on_command(body, stop_all, outbox, background)
            return
        response_url = text_at(body, "response_url")
        wants_status = word == "status"
        wants_list = finder is not None and word in ("", "list") and not rest.strip()

        async def deliver(reply: Reply, request_id: str | None = None) -> None:
            if response_url is not None:
                await outbox.respond(response_url, reply, request_id)

        stopping: list[asyncio.Future[None]] = []

        def on_accepted(meeting_id: MeetingId) -> None:
            # Said while the API call runs, not before it; the outcome waits for it.
            stopping.append(asyncio.ensure_future(deliver(messages.stopping(meeting_id))))

        request = StopRequest(
            door="command",
            user_id=text_at(body, "user_id") or "",
            meeting_text=rest.strip() if wants_status else text.strip(),
            team_id=text_at(body, "team_id"),
            channel_id=text_at(body, "channel_id"),
        )

        async def work() -> None:
            if wants_list and finder is not None:
                await deliver(*await listing.show(finder, request))
                return
            if wants_status or confirm_first:
                looked = await service.status(request)
                title = None
                if finder is not None and isinstance(looked, Looked):
                    title = await finder.title_within(looked.meeting_id, NAMES_WAIT_SECONDS)
                card = messages.status_card(
                    looked, time.time(), asked_to_stop=not wants_status, title=title
                )
                await deliver(card, looked.request_id)
                return
            outcome, read = await stop_named(service, finder, request, on_accepted=on_accepted)
            if stopping:
                await stopping[0]
            if not isinstance(outcome, Redelivered):
                await deliver(messages.render(outcome, read), outcome.request_id)

        background.run(work(), deliver)
