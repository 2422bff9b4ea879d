"""The live list's own button: "Next 20" (`live_list_page`, value = the offset), which
shows the next page of `/stop-livestream list` in place of the one pressed."""

from __future__ import annotations

import re
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.doors.background import Background
from bot.doors.fields import action_channel, action_value, text_at
from bot.doors.outbox import Outbox
from bot.messages import Reply
from bot.messages.live import PAGE_ACTION_ID, live_list
from bot.service.admit import StopRequest
from bot.service.live import FindService

_OFFSET = re.compile(r"[0-9]{1,6}", re.ASCII)


async def show(finder: FindService, request: StopRequest, offset: int = 0) -> tuple[Reply, str]:
    """One page of what is live, as the person's private reply (and its request id)."""
    outcome = await finder.live_page(request, offset)
    return live_list(outcome, time.time()), outcome.request_id


def register(app: AsyncApp, finder: FindService, outbox: Outbox, background: Background) -> None:
    """Attach the next-page button."""

    @app.action(PAGE_ACTION_ID)
    async def on_next_page(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        value = action_value(body)
        offset = int(value) if _OFFSET.fullmatch(value) else 0
        response_url = text_at(body, "response_url")
        request = StopRequest(
            door="button",
            user_id=text_at(body, "user", "id") or "",
            meeting_text="",
            team_id=text_at(body, "team", "id"),
            channel_id=action_channel(body),
        )

        async def deliver(reply: Reply, request_id: str | None = None) -> None:
            if response_url is not None:
                # The page replaces the one whose button was pressed.
                await outbox.respond(response_url, reply, request_id, replace_original=True)

        async def work() -> None:
            reply, request_id = await show(finder, request, offset)
            await deliver(reply, request_id)

        background.run(work(), deliver)
