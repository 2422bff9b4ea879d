"""Block Kit buttons: `stop_livestream` on the bot's own cards and channel posts.

Every button the bot posts carries `<meeting-id>|<shown at, Unix seconds>`, and the use
case refuses presses of buttons shown more than 5 minutes ago."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import messages
from bot.doors.background import Background
from bot.doors.fields import action_channel, action_value, on_private_card, text_at
from bot.doors.outbox import Outbox
from bot.messages import Reply
from bot.service.admit import StopRequest
from bot.service.live import FindService
from bot.service.names import stop_named
from bot.service.stop import Redelivered, StopService

log = logging.getLogger(__name__)

ACTION_ID = messages.ACTION_ID
_SHOWN_AT = re.compile(r"[0-9]{1,12}", re.ASCII)


def parse_button_value(value: str) -> tuple[str, float | None]:
    """(meeting text, when the button was shown) from a button's value; None when the
    time is missing or not a plain number."""
    meeting_text, _, shown_at = value.partition("|")
    return meeting_text, float(shown_at) if _SHOWN_AT.fullmatch(shown_at) else None


def register(
    app: AsyncApp,
    service: StopService,
    outbox: Outbox,
    background: Background,
    finder: FindService | None = None,
) -> None:
    """Attach the stop button (its outcome names the livestream when `finder` can)."""

    @app.action(ACTION_ID)
    async def on_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        channel_id = action_channel(body)
        user_id = text_at(body, "user", "id") or ""
        response_url = text_at(body, "response_url")
        # A private card is replaced by what happened, so its button cannot be pressed twice.
        on_card = on_private_card(body)

        async def deliver(reply: Reply, request_id: str | None = None) -> None:
            if response_url is not None:
                if on_card:
                    await outbox.respond(
                        response_url, Reply(reply.text, reply.blocks), request_id,
                        replace_original=True,
                    )  # fmt: skip
                    if not reply.public:
                        return
                await outbox.respond(response_url, reply, request_id)
            elif channel_id is not None and reply.public:
                await outbox.post(channel_id, reply)
            elif channel_id is not None and user_id:
                await outbox.client.chat_postEphemeral(
                    channel=channel_id, user=user_id, text=reply.text, blocks=reply.blocks
                )
            else:
                log.warning("button press with nowhere to reply")

        meeting_text, issued_at = parse_button_value(action_value(body))
        request = StopRequest(
            door="button",
            user_id=user_id,
            meeting_text=meeting_text,
            team_id=text_at(body, "team", "id"),
            channel_id=channel_id,
            issued_at=issued_at,
        )

        async def work() -> None:
            pressed: asyncio.Future[bool] | None = None
            if on_card and response_url is not None:
                # Replaces the card alongside the stop (never before it), so the button
                # is gone and a slow Slack cannot delay the API call.
                pressed = asyncio.ensure_future(
                    outbox.respond(
                        response_url, messages.pressed(meeting_text), replace_original=True
                    )
                )
            outcome, read = await stop_named(service, finder, request)
            if pressed is not None:
                await pressed  # the outcome replaces the card after "Stopping…" did
            if not isinstance(outcome, Redelivered):
                await deliver(messages.render(outcome, read), outcome.request_id)

        background.run(work(), deliver)
