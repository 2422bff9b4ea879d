"""The global shortcut "Stop a livestream": a modal with a type-ahead of what is live
and a channel to announce the outcome in.

Slack gives each of these 3 s: the shortcut is acked and the modal opened at once
(nothing waits for the API); type-ahead options come from a list cached for a few
seconds and the titles already known (never waiting for a title read); a submission
is checked (access, and that the bot can post in the channel picked, before the ack,
so that a refusal shows in the modal) and then stopped through the same StopService
as every other door. A post that still fails reaches the person as a direct message
from the app."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.deps import Deps, stop_and_reply, text_at
from bot.listeners.reply import To
from bot.messages.live import (
    CHANNEL_ACTION_ID,
    CHANNEL_BLOCK_ID,
    MODAL_CALLBACK_ID,
    PICK_ACTION_ID,
    STREAM_BLOCK_ID,
    access_unchecked,
    cannot_post,
    modal_errors,
    picker_modal,
    picker_options,
)
from bot.service.admit import StopRequest

log = logging.getLogger(__name__)

CALLBACK_ID = "stop_livestream_shortcut"
# Within Slack's 3 s for options and submissions, with room for the round trip.
ACCESS_WITHIN_SECONDS = 1.0
CHANNEL_WITHIN_SECONDS = 0.8  # within the access check's time, which runs beside it
SUGGEST_WITHIN_SECONDS = 1.5


async def on_shortcut(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Open the modal (a failure reaches the person as a direct message)."""
    await ack()
    trigger_id = text_at(body, "trigger_id")
    if trigger_id is None:
        log.warning("shortcut without a trigger_id: no modal to open")
        return
    deps = Deps.of(context)
    opening = client.views_open(trigger_id=trigger_id, view=picker_modal())
    deps.run(opening, To(user_id=context.user_id, dm=True))


async def on_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """The type-ahead: what is live and matches, for a person who may see it."""
    finder = Deps.of(context).finder
    request = StopRequest(
        door="shortcut", user_id=context.user_id or "", meeting_text="", team_id=context.team_id
    )
    try:
        refused = await asyncio.wait_for(finder.may_list(request), ACCESS_WITHIN_SECONDS)
    except TimeoutError:  # access not known in time: show nothing
        await ack(options=[])
        return
    if refused is not None:
        await ack(options=[])
        return
    rows = await finder.suggest(text_at(body, "value") or "", SUGGEST_WITHIN_SECONDS)
    await ack(options=picker_options(rows if isinstance(rows, list) else []))


async def on_submit(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Check, then (acked) stop; the outcome goes to the channel picked."""
    deps = Deps.of(context)
    values = ("view", "state", "values")
    channel_id = text_at(
        body, *values, CHANNEL_BLOCK_ID, CHANNEL_ACTION_ID, "selected_conversation"
    )
    picked = text_at(body, *values, STREAM_BLOCK_ID, PICK_ACTION_ID, "selected_option", "value")
    request = StopRequest(
        door="shortcut",
        user_id=context.user_id or "",
        meeting_text=picked or "",
        team_id=context.team_id,
        channel_id=channel_id,
    )
    # Checked before the ack: only the ack can show a refusal in the modal.
    checks = asyncio.gather(deps.service.may_stop(request), can_post(deps, channel_id))
    try:
        refused, postable = await asyncio.wait_for(checks, ACCESS_WITHIN_SECONDS)
    except TimeoutError:
        await ack(response_action="errors", errors=access_unchecked())
        return
    if refused is not None:
        await ack(response_action="errors", errors=modal_errors(refused))
        return
    if not postable:
        await ack(response_action="errors", errors=cannot_post())
        return
    await ack()
    to = To(channel_id=channel_id, user_id=request.user_id, dm=True)
    deps.run(stop_and_reply(deps, request, to), to)


async def can_post(deps: Deps, channel_id: str | None) -> bool:
    """False when Slack says the bot cannot post in the channel: archived, or private
    without the bot (a public one needs no invitation: chat:write.public). True when
    Slack does not say in time: a post that fails then goes to the person directly."""
    if channel_id is None:
        return True
    try:
        async with asyncio.timeout(CHANNEL_WITHIN_SECONDS):
            info = await deps.replier.client.conversations_info(channel=channel_id)
    except SlackApiError as error:  # a private channel without the bot is "not found"
        return bool(error.response.get("error") != "channel_not_found")
    except Exception:
        log.warning("could not check channel %s before the stop", channel_id, exc_info=True)
        return True
    channel = info.get("channel")
    if not isinstance(channel, dict):
        return True
    return bool(
        not channel.get("is_archived")
        and (channel.get("is_member") or not channel.get("is_private"))
    )


def register(app: AsyncApp) -> None:
    """Attach the shortcut, its type-ahead and its modal's submission."""
    app.shortcut(CALLBACK_ID)(on_shortcut)
    app.options(PICK_ACTION_ID)(on_options)
    app.view(MODAL_CALLBACK_ID)(on_submit)
