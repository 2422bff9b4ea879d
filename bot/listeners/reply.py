"""The one replier: everything the listeners send to Slack, and its one retry policy.

A reply goes where its request says (`To`): to the response_url (replacing a private
card first), else in the channel (only to the person when it is not public), falling
back, where asked, to a direct message from the app; a workflow step's reply fails it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import audit
from bot.messages import Reply

log = logging.getLogger(__name__)


def retry_policy(backoff: float) -> list[AsyncRetryHandler]:
    """slack-sdk's retries for every Slack call: only what cannot have been delivered.
    A post that timed out or lost its connection may have landed, and a retry would
    post it twice: so connect-phase errors only, 500/503 (the server-error handler
    leaves 502/504 alone), and 429 after Retry-After. Retry state lives per request,
    so one list serves every call."""
    interval = BackoffRetryIntervalCalculator(backoff)
    return [
        AsyncConnectionErrorRetryHandler(
            max_retry_count=2,
            interval_calculator=interval,
            error_types=[aiohttp.ClientConnectorError],
        ),
        AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
        AsyncRateLimitErrorRetryHandler(max_retry_count=2),
    ]


@dataclass(frozen=True)
class To:
    """Where one request's replies go."""

    response_url: str | None = None
    replace: bool = False  # a private card: replaced by what happened
    channel_id: str | None = None
    user_id: str | None = None
    dm: bool = False  # when the channel post fails (or there is none): a direct message
    fail: AsyncFail | None = None  # a workflow step: its replies fail it


class Replier:
    """Sends replies over one shared HTTP session, with the client's retry policy."""

    def __init__(self, session: aiohttp.ClientSession, client: AsyncWebClient) -> None:
        self._session = session
        self.client = client
        self._retry = client.retry_handlers  # response_url posts retry as the client does

    async def send(self, to: To, reply: Reply, request_id: str | None = None) -> None:
        """Deliver `reply` where `to` says."""
        if to.fail is not None:
            await to.fail(reply.text)
        elif to.response_url is not None:
            if to.replace:  # the card gives way to what happened, so it cannot act twice
                await self.respond(
                    to.response_url, Reply(reply.text, reply.blocks), request_id,
                    replace_original=True,
                )  # fmt: skip
                if not reply.public:
                    return
            await self.respond(to.response_url, reply, request_id)
        elif to.dm and to.user_id:
            await self.post_or_dm(to.channel_id, to.user_id, reply, request_id)
        elif not await self.in_channel(to.channel_id, to.user_id, reply):
            log.warning("a reply with nowhere to go", extra={"request_id": request_id})

    async def in_channel(self, channel_id: str | None, user_id: str | None, reply: Reply) -> bool:
        """Post in the channel, only to `user_id` when the reply is not public; False
        when there is no such place to post."""
        if channel_id is not None and reply.public:
            await self.post(channel_id, reply)
        elif channel_id is not None and user_id:
            await self.client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=reply.text, blocks=reply.blocks
            )
        else:
            return False
        return True

    async def respond(
        self,
        response_url: str,
        reply: Reply,
        request_id: str | None = None,
        *,
        replace_original: bool = False,
    ) -> bool:
        """Post to a response_url (in the channel when the reply is public); a post that
        never lands is audited. True if it landed."""
        webhook = AsyncWebhookClient(
            response_url, session=self._session, retry_handlers=self._retry
        )
        try:
            response = await webhook.send(
                text=reply.text,
                blocks=reply.blocks,
                response_type="in_channel" if reply.public else "ephemeral",
                replace_original=replace_original,
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            failure = type(error).__name__
        else:
            if response.status_code == 200:
                return True
            failure = f"HTTP {response.status_code}"
        log.warning(
            "could not post to a response_url: %s", failure, extra={"request_id": request_id}
        )
        audit.write("reply_failed", request_id=request_id, via="response_url", error=failure)
        return False

    async def post(
        self, channel_id: str, reply: Reply, client: AsyncWebClient | None = None
    ) -> None:
        """Post a reply to a channel with chat.postMessage (with `client`'s token, if given)."""
        await (client or self.client).chat_postMessage(
            channel=channel_id, text=reply.text, blocks=reply.blocks
        )

    async def post_or_dm(
        self, channel_id: str | None, user_id: str, reply: Reply, request_id: str | None = None
    ) -> None:
        """Post in the channel (only to `user_id`, when the reply is not public); if that
        fails, a direct message from the app (its Messages tab); audited when neither
        lands."""
        if channel_id is not None:
            try:
                await self.in_channel(channel_id, user_id, reply)
                return
            except Exception as error:
                log.warning(
                    "could not post in %s (%s): telling the person directly", channel_id,
                    reason(error), extra={"request_id": request_id},
                )  # fmt: skip
        try:
            await self.post(user_id, reply)
        except Exception as error:
            log.warning(
                "could not tell the person: %s", reason(error), extra={"request_id": request_id}
            )
            audit.write(
                "reply_failed", request_id=request_id, via="chat.postMessage", error=reason(error)
            )


def reason(error: Exception) -> str:
    """Slack's error code, or the kind of failure."""
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or "slack_error")
    return type(error).__name__
