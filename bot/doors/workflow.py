"""The Workflow Builder custom step `stop_livestream`.

The person is the one who ran the workflow: `inputs["user_context"]["id"]`, which Slack
fills in and a workflow's builder cannot type. `channel_id` only says where to announce
the outcome. Without a `meeting_id`, `meeting_name` picks the one live livestream whose
name or meeting title it is (ignoring case); none or several fail the step, naming the
candidates."""

from __future__ import annotations

import dataclasses
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
from bot.messages.live import list_failed, no_match
from bot.realtimekit import NoActiveLivestream, Stopped
from bot.service.admit import StopRequest, new_request_id
from bot.service.live import FindService, Found, ListFailed, NoMatch
from bot.service.names import Names, stop_named
from bot.service.stop import Attempted, Redelivered, StopService

log = logging.getLogger(__name__)

CALLBACK_ID = "stop_livestream"


def register(
    app: AsyncApp,
    service: StopService,
    outbox: Outbox,
    background: Background,
    finder: FindService | None = None,
) -> None:
    """Attach the custom step (`meeting_name` and named outcomes need `finder`)."""

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

        meeting_name = text_at(inputs, "meeting_name")

        async def work() -> None:
            stop = request
            known: Names | None = None
            if finder is not None and not stop.meeting_text.strip() and meeting_name:
                # A redelivery must not search again: the stream it stopped is gone, and
                # "no match" would fail a step that already succeeded.
                if not await service.first_delivery(stop.delivery_ids):
                    return
                stop = dataclasses.replace(stop, delivery_ids=())  # checked just now
                found = await finder.find_by_name(stop, meeting_name)
                match found:
                    case Found(row=row):
                        stop = dataclasses.replace(stop, meeting_text=row.meeting_id)
                        known = row.names
                    case NoMatch():
                        await fail(no_match(found))
                        return
                    case ListFailed():
                        await fail(list_failed(found))
                        return
                    case refused:
                        await fail(messages.render(refused).text)
                        return
            outcome, read = await stop_named(service, finder, stop, known=known)
            if isinstance(outcome, Redelivered):
                return
            reply = messages.render(outcome, read)
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
            if isinstance(outcome, Attempted) and isinstance(
                outcome.result, Stopped | NoActiveLivestream
            ):
                await complete({"message": reply.text, "meeting_id": outcome.meeting_id})
            else:
                await fail(reply.text)

        background.run(work(), deliver)
