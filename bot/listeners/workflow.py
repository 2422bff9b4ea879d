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
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.complete.async_complete import AsyncComplete
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.web.async_client import AsyncWebClient

from bot import audit, messages
from bot.listeners.deps import Deps, stop_with_names, text_at
from bot.listeners.reply import To
from bot.messages.live import list_failed, no_match
from bot.realtimekit import NoActiveLivestream, Stopped
from bot.service.admit import StopRequest, new_request_id
from bot.service.live import Found, ListFailed, NoMatch
from bot.service.names import Names
from bot.service.stop import Attempted, Redelivered

log = logging.getLogger(__name__)

CALLBACK_ID = "stop_livestream"


async def on_step(
    complete: AsyncComplete,
    fail: AsyncFail,
    client: AsyncWebClient,
    body: dict[str, Any],
    context: AsyncBoltContext,
) -> None:
    """Stop for the person who ran the workflow; complete the step when the livestream
    is stopped (or was not live), else fail it with the reason."""
    deps = Deps.of(context)
    inputs = context.get("inputs")
    user_id = text_at(inputs, "user_context", "id")
    channel_id = text_at(inputs, "channel_id")
    to = To(fail=fail)
    if user_id is None:
        ref = new_request_id()
        audit.write(
            "stop", request_id=ref, door="workflow", team_id=context.team_id,
            channel_id=channel_id, decision="invalid", reason="no_user_context",
        )  # fmt: skip
        failing = deps.replier.send(to, messages.no_user_context(ref))
        deps.run(failing, to)
        return
    delivery = (("execution", context.function_execution_id), ("event", body.get("event_id")))
    request = StopRequest(
        door="workflow",
        user_id=user_id,
        meeting_text=text_at(inputs, "meeting_id") or "",
        team_id=context.team_id,
        channel_id=channel_id,
        delivery_ids=tuple(f"{kind}:{value}" for kind, value in delivery if value),
    )
    step = _step(deps, request, text_at(inputs, "meeting_name"), complete, fail, client)
    deps.run(step, to)


async def _step(
    deps: Deps,
    request: StopRequest,
    meeting_name: str | None,
    complete: AsyncComplete,
    fail: AsyncFail,
    client: AsyncWebClient,
) -> None:
    known: Names | None = None
    if not request.meeting_text.strip() and meeting_name:
        # A redelivery must not search again: the stream it stopped is gone, and
        # "no match" would fail a step that already succeeded.
        if not await deps.service.first_delivery(request.delivery_ids):
            return
        request = dataclasses.replace(request, delivery_ids=())  # checked just now
        found = await deps.finder.find_by_name(request, meeting_name)
        match found:
            case Found(row=row):
                request = dataclasses.replace(request, meeting_text=row.meeting_id)
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
    outcome, names = await stop_with_names(deps, request, known=known)
    if isinstance(outcome, Redelivered):
        return
    reply = messages.render(outcome, names)
    if isinstance(outcome, Attempted) and request.channel_id:
        try:
            await deps.replier.post(request.channel_id, reply, client)
        except Exception:
            ref = outcome.request_id
            log.exception(
                "could not post to the workflow's channel (ref: %s)", ref, extra={"request_id": ref}
            )
            audit.write("reply_failed", request_id=ref, via="chat.postMessage")
    if isinstance(outcome, Attempted) and isinstance(outcome.result, Stopped | NoActiveLivestream):
        await complete({"message": reply.text, "meeting_id": outcome.meeting_id})
    else:
        await fail(reply.text)


def register(app: AsyncApp) -> None:
    """Attach the custom step."""
    app.function(CALLBACK_ID)(on_step)
