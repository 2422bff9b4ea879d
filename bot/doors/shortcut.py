"""The global shortcut "Stop a livestream": a modal with a type-ahead of what is live
and a channel to announce the outcome in.

Slack gives each of these 3 s: the shortcut is acked and the modal opened at once
(nothing waits for the API); type-ahead options come from a list cached for a few
seconds; a submission is checked (access, before the ack, so that a refusal shows in
the modal) and then stopped through the same StopService as every other door."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.doors.background import Background
from bot.doors.fields import text_at
from bot.doors.outbox import Outbox
from bot.finding import FindService, stop_named
from bot.messages import Reply
from bot.messages.live import (
    CHANNEL_ACTION_ID,
    CHANNEL_BLOCK_ID,
    MODAL_CALLBACK_ID,
    PICK_ACTION_ID,
    STREAM_BLOCK_ID,
    access_unchecked,
    modal_errors,
    picker_modal,
    picker_options,
)
from bot.stopping import Redelivered, StopRequest, StopService

log = logging.getLogger(__name__)

CALLBACK_ID = "stop_livestream_shortcut"
# Within Slack's 3 s for options and submissions, with room for the round trip.
ACCESS_WITHIN_SECONDS = 1.0
SUGGEST_WITHIN_SECONDS = 1.5


def register(
    app: AsyncApp,
    service: StopService,
    finder: FindService,
    outbox: Outbox,
    background: Background,
) -> None:
    """Attach the shortcut, its type-ahead and its modal's submission."""

    @app.shortcut(CALLBACK_ID)
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        trigger_id = text_at(body, "trigger_id")
        user_id = text_at(body, "user", "id")

        async def open_modal() -> None:
            await client.views_open(trigger_id=trigger_id, view=picker_modal())

        async def deliver(reply: Reply) -> None:
            if user_id is not None:  # the app's direct messages with the person
                await outbox.post(user_id, reply)

        if trigger_id is None:
            log.warning("shortcut without a trigger_id: no modal to open")
            return
        background.run(open_modal(), deliver)

    @app.options(PICK_ACTION_ID)
    async def on_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        request = StopRequest(
            door="shortcut",
            user_id=text_at(body, "user", "id") or "",
            meeting_text="",
            team_id=text_at(body, "team", "id") or text_at(body, "user", "team_id"),
        )
        try:
            refused = await asyncio.wait_for(finder.may_list(request), ACCESS_WITHIN_SECONDS)
        except TimeoutError:
            await ack(options=[])  # access not known in time: show nothing
            return
        if refused is not None:
            await ack(options=[])
            return
        rows = await finder.suggest(text_at(body, "value") or "", SUGGEST_WITHIN_SECONDS)
        await ack(options=picker_options(rows if isinstance(rows, list) else []))

    @app.view(MODAL_CALLBACK_ID)
    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        values = ("view", "state", "values")
        user_id = text_at(body, "user", "id") or ""
        channel_id = text_at(
            body, *values, CHANNEL_BLOCK_ID, CHANNEL_ACTION_ID, "selected_conversation"
        )
        request = StopRequest(
            door="shortcut",
            user_id=user_id,
            meeting_text=text_at(
                body, *values, STREAM_BLOCK_ID, PICK_ACTION_ID, "selected_option", "value"
            )
            or "",
            team_id=text_at(body, "team", "id") or text_at(body, "user", "team_id"),
            channel_id=channel_id,
        )
        # Checked before the ack: only the ack can show a refusal in the modal.
        try:
            refused = await asyncio.wait_for(service.may_stop(request), ACCESS_WITHIN_SECONDS)
        except TimeoutError:
            await ack(response_action="errors", errors=access_unchecked())
            return
        if refused is not None:
            await ack(response_action="errors", errors=modal_errors(refused))
            return
        await ack()

        async def deliver(reply: Reply, request_id: str | None = None) -> None:
            if reply.public and channel_id is not None:
                await outbox.post(channel_id, reply)
            elif channel_id is not None:
                await outbox.client.chat_postEphemeral(
                    channel=channel_id, user=user_id, text=reply.text, blocks=reply.blocks
                )
            else:
                await outbox.post(user_id, reply)

        async def work() -> None:
            outcome, read = await stop_named(service, finder, request)
            if not isinstance(outcome, Redelivered):
                await deliver(messages.render(outcome, read), outcome.request_id)

        background.run(work(), deliver)
