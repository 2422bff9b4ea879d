"""The Workflow Builder custom step `stop_livestream`.

The person is the one who ran the workflow: `inputs["user_context"]["id"]`, which Slack
fills in and a workflow's builder cannot type. `channel_id` only says where to announce
the outcome."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.complete.async_complete import AsyncComplete
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.web.async_client import AsyncWebClient

from bot import audit, messages
from bot.doors.background import Background
from bot.doors.fields import text_at
from bot.doors.outbox import Outbox
from bot.messages import Reply
from bot.realtimekit import Stopped
from bot.stopping import Attempted, Redelivered, StopRequest, StopService, new_request_id

log = logging.getLogger(__name__)

CALLBACK_ID = "stop_livestream"


def register(app: AsyncApp, service: StopService, outbox: Outbox, background: Background) -> None:
    """Attach the custom step."""

    @app.function(CALLBACK_ID)
    async def on_step(
        complete: AsyncComplete, fail: AsyncFail, client: AsyncWebClient, body: dict[str, Any]
    ) -> None:
        event = body.get("event")
        inputs = event.get("inputs") if isinstance(event, dict) else None
        user_id = text_at(inputs, "user_context", "id")
        channel_id = text_at(inputs, "channel_id")
        delivery_ids = tuple(
            f"{kind}:{value}"
            for kind, value in (
                ("execution", text_at(event, "function_execution_id")),
                ("event", text_at(body, "event_id")),
            )
            if value
        )

        async def deliver(reply: Reply) -> None:
            await fail(reply.text)

        if user_id is None:
            ref = new_request_id()
            audit.write(
                "stop", request_id=ref, door="workflow", team_id=text_at(body, "team_id"),
                channel_id=channel_id, decision="invalid", reason="no_user_context",
            )  # fmt: skip
            background.run(deliver(messages.no_user_context(ref)), deliver)
            return

        request = StopRequest(
            door="workflow",
            user_id=user_id,
            meeting_text=text_at(inputs, "meeting_id") or "",
            team_id=text_at(body, "team_id"),
            channel_id=channel_id,
            delivery_ids=delivery_ids,
        )

        async def work() -> None:
            outcome = await service.stop(request)
            if isinstance(outcome, Redelivered):
                return
            reply = messages.render(outcome)
            if isinstance(outcome, Attempted) and channel_id:
                try:
                    await outbox.post(channel_id, reply, client)
                except Exception:
                    ref = outcome.request_id
                    log.exception(
                        "could not post to the workflow's channel (ref: %s)", ref,
                        extra={"request_id": ref},
                    )  # fmt: skip
                    audit.write(
                        "reply_failed", request_id=outcome.request_id, via="chat.postMessage"
                    )
            if isinstance(outcome, Attempted) and isinstance(outcome.result, Stopped):
                await complete({"message": reply.text, "meeting_id": outcome.meeting_id})
            else:
                await fail(reply.text)

        background.run(work(), deliver)
