"""Block Kit buttons: `stop_livestream` on the bot's own cards and channel posts, and the
live list's "Next 20" (`live_list_page`, value = the offset), which shows the next page
in place of the one pressed. (The stop-all buttons live in stop_all.py.)

Every stop button carries `<meeting-id>|<shown at, Unix seconds>`, and the use case
refuses presses of buttons shown more than 5 minutes ago."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot import messages
from bot.listeners.deps import Deps, stop_and_reply, text_at
from bot.listeners.reply import To
from bot.messages.live import PAGE_ACTION_ID, live_list
from bot.service.admit import StopRequest

ACTION_ID = messages.ACTION_ID
_SHOWN_AT = re.compile(r"[0-9]{1,12}", re.ASCII)
_OFFSET = re.compile(r"[0-9]{1,6}", re.ASCII)


def parse_button_value(value: str) -> tuple[str, float | None]:
    """(meeting text, when the button was shown) from a button's value; None when the
    time is missing or not a plain number."""
    meeting_text, _, shown_at = value.partition("|")
    return meeting_text, float(shown_at) if _SHOWN_AT.fullmatch(shown_at) else None


@dataclass(frozen=True)
class Press:
    """What a press says: its value (before and after the `|`), who pressed it (from
    `user.id` only: a `user` that is not an object reads as missing, so it is refused
    as malformed, never taken as an ID), where, and whether on a private card."""

    what: str
    issued_at: float | None
    user_id: str
    channel_id: str | None
    on_card: bool

    @staticmethod
    def of(body: dict[str, Any]) -> Press:
        """Read a block_actions payload (the guard let only a readable action through)."""
        container = body.get("container")
        return Press(
            *parse_button_value(text_at(body["actions"][0], "value") or ""),
            user_id=text_at(body, "user", "id") or "",
            channel_id=text_at(body, "channel", "id") or text_at(container, "channel_id"),
            on_card=isinstance(container, dict) and container.get("is_ephemeral") is True,
        )


async def show_page(deps: Deps, request: StopRequest, to: To, offset: int = 0) -> None:
    """One page of what is live, as the person's private reply."""
    outcome = await deps.finder.live_page(request, offset)
    await deps.replier.send(to, live_list(outcome, time.time()), outcome.request_id)


async def on_stop(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Stop the meeting on the button. A private card is replaced, alongside the stop
    (never before it), by "Stopping…" and then by what happened, so its button is gone
    and a slow Slack cannot delay the API call."""
    await ack()
    deps, press = Deps.of(context), Press.of(body)
    to = To(context.response_url, press.on_card, press.channel_id, press.user_id)
    request = StopRequest(
        door="button",
        user_id=press.user_id,
        meeting_text=press.what,
        team_id=context.team_id,
        channel_id=press.channel_id,
        issued_at=press.issued_at,
    )
    pressed = messages.pressed(press.what) if press.on_card and to.response_url else None
    deps.run(stop_and_reply(deps, request, to, pressed=pressed), to)


async def on_next_page(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """Show the page at the button's offset in place of the one pressed."""
    await ack()
    deps, press = Deps.of(context), Press.of(body)
    request = StopRequest(
        door="button",
        user_id=press.user_id,
        meeting_text="",
        team_id=context.team_id,
        channel_id=press.channel_id,
    )
    to = To(context.response_url, replace=True)
    offset = int(press.what) if _OFFSET.fullmatch(press.what) else 0
    deps.run(show_page(deps, request, to, offset), to)


def register(app: AsyncApp) -> None:
    """Attach the stop button and the next-page button."""
    app.action(ACTION_ID)(on_stop)
    app.action(PAGE_ACTION_ID)(on_next_page)
