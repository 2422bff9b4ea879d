"""The three doors: Bolt listeners that translate Slack payloads to StopRequests and
Outcomes back to Slack replies. Nothing else in the bot imports Bolt."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.complete.async_complete import AsyncComplete
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import messages
from bot.config import Settings
from bot.messages import Reply
from bot.realtimekit import MeetingId, Stopped
from bot.stopping import Attempted, StopRequest, StopService, new_request_id

log = logging.getLogger(__name__)

COMMAND = messages.COMMAND
ACTION_ID = messages.ACTION_ID
CALLBACK_ID = "stop_livestream"
SLACK_TIMEOUT_SECONDS = 10


def retry_handlers() -> list[AsyncRetryHandler]:
    """slack-sdk's own retries: connection errors, 5xx, and 429 with Retry-After."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
    ]


class SlackOut:
    """Everything the doors send to Slack, over one shared HTTP session."""

    def __init__(self, session: aiohttp.ClientSession, client: AsyncWebClient) -> None:
        self._session = session
        self.client = client

    async def respond(self, response_url: str, reply: Reply) -> None:
        """Post to a response_url: in the channel when the reply is public."""
        webhook = AsyncWebhookClient(
            response_url,
            timeout=SLACK_TIMEOUT_SECONDS,
            session=self._session,
            retry_handlers=retry_handlers(),
        )
        response = await webhook.send(
            text=reply.text,
            blocks=reply.blocks,
            response_type="in_channel" if reply.public else "ephemeral",
            replace_original=False,
        )
        if response.status_code != 200:
            log.warning("response_url answered HTTP %s", response.status_code)

    async def post(self, client: AsyncWebClient, channel_id: str, reply: Reply) -> None:
        """Post a reply to a channel with chat.postMessage."""
        await client.chat_postMessage(channel=channel_id, text=reply.text, blocks=reply.blocks)


@dataclass
class Bot:
    """The wired app and what must be closed with it."""

    app: AsyncApp
    service: StopService
    slack: SlackOut
    session: aiohttp.ClientSession

    async def aclose(self) -> None:
        """Close the HTTP session shared by every Slack call."""
        await self.session.close()


def create_bot(settings: Settings, service: StopService) -> Bot:
    """Wire the doors to the use case. Call inside the running event loop."""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT_SECONDS))
    client = AsyncWebClient(
        token=settings.slack_bot_token.get(),
        base_url=settings.slack_api_url,
        session=session,
        timeout=SLACK_TIMEOUT_SECONDS,
        retry_handlers=retry_handlers(),
    )
    signing_secret = settings.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret.get() if signing_secret else "",
        request_verification_enabled=signing_secret is not None,
        logger=logging.getLogger("bot.bolt"),
    )
    slack = SlackOut(session, client)
    register(app, service, slack)
    return Bot(app=app, service=service, slack=slack, session=session)


Deliver = Callable[[Reply], Awaitable[None]]


async def _guarded(
    service: StopService, deliver: Deliver, work: Callable[[], Awaitable[None]]
) -> None:
    """Run a door's work after its ack: tracked for shutdown, and no exception reaches
    the person as a traceback."""
    async with service.work():
        try:
            await work()
        except Exception:
            ref = new_request_id()
            log.exception("unexpected error (ref: %s)", ref)
            try:
                await deliver(messages.something_went_wrong(ref))
            except Exception:
                log.exception("could not tell the person about error %s", ref)


def register(app: AsyncApp, service: StopService, slack: SlackOut) -> None:
    """Attach the slash command, the button and the workflow step to `app`."""

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = str(body.get("text") or "").strip()
        if text.lower() in ("", "help"):
            await ack(text=messages.usage().text, blocks=messages.usage().blocks)
            return
        await ack()
        response_url = str(body["response_url"])

        async def deliver(reply: Reply) -> None:
            await slack.respond(response_url, reply)

        async def on_accepted(meeting_id: MeetingId) -> None:
            await deliver(messages.stopping(meeting_id))

        request = StopRequest(
            door="command",
            user_id=str(body.get("user_id", "")),
            meeting_text=text,
            team_id=body.get("team_id"),
            channel_id=body.get("channel_id"),
        )

        async def work() -> None:
            await deliver(messages.render(await service.stop(request, on_accepted)))

        await _guarded(service, deliver, work)

    @app.action(ACTION_ID)
    async def on_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        user_id = str((body.get("user") or {}).get("id", ""))
        response_url = body.get("response_url")

        async def deliver(reply: Reply) -> None:
            if response_url:
                await slack.respond(str(response_url), reply)
            elif channel_id and reply.public:
                await slack.post(slack.client, channel_id, reply)
            elif channel_id:
                await slack.client.chat_postEphemeral(
                    channel=channel_id, user=user_id, text=reply.text, blocks=reply.blocks
                )
            else:
                log.warning("button press with nowhere to reply")

        request = StopRequest(
            door="button",
            user_id=user_id,
            meeting_text=str(action.get("value") or ""),
            team_id=(body.get("team") or {}).get("id"),
            channel_id=channel_id,
        )

        async def work() -> None:
            await deliver(messages.render(await service.stop(request)))

        await _guarded(service, deliver, work)

    @app.function(CALLBACK_ID)
    async def on_step(
        inputs: dict[str, Any],
        complete: AsyncComplete,
        fail: AsyncFail,
        client: AsyncWebClient,
        body: dict[str, Any],
    ) -> None:
        channel_id = inputs.get("channel_id") or None
        request = StopRequest(
            door="workflow",
            user_id=str(inputs.get("user_id") or ""),
            meeting_text=str(inputs.get("meeting_id") or ""),
            team_id=body.get("team_id"),
            channel_id=channel_id,
        )

        async def deliver(reply: Reply) -> None:
            await fail(reply.text)

        async def work() -> None:
            outcome = await service.stop(request)
            reply = messages.render(outcome)
            if isinstance(outcome, Attempted) and channel_id:
                try:
                    await slack.post(client, str(channel_id), reply)
                except Exception:
                    log.exception("could not post the outcome to the workflow's channel")
            if isinstance(outcome, Attempted) and isinstance(outcome.result, Stopped):
                await complete({"message": reply.text, "meeting_id": outcome.meeting_id})
            else:
                await fail(reply.text)

        await _guarded(service, deliver, work)
