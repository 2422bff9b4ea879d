"""The three doors: Bolt listeners that translate Slack payloads to StopRequests and
Outcomes back to Slack replies. Nothing else in the bot imports Bolt."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.complete.async_complete import AsyncComplete
from slack_bolt.context.fail.async_fail import AsyncFail
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import audit, messages
from bot.access import Access, GroupLookupError, Policy, RateLimit
from bot.config import Settings
from bot.flight import SingleFlight
from bot.messages import Reply
from bot.realtimekit import MeetingId, RealtimeKitClient, Stopped
from bot.stopping import (
    Attempted,
    Redelivered,
    StopCrashed,
    StopRequest,
    StopService,
    new_request_id,
)

log = logging.getLogger(__name__)

COMMAND = messages.COMMAND
ACTION_ID = messages.ACTION_ID
CALLBACK_ID = "stop_livestream"


class ResponseUrlRetryHandler(AsyncRetryHandler):
    """Retries a response_url post that timed out, failed to connect, or answered
    404, 429 or 5xx (Slack's response_urls do so briefly under load)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is not None:
            return isinstance(error, asyncio.TimeoutError | aiohttp.ClientError)
        status = response.status_code if response is not None else 0
        return status in (404, 429) or status >= 500


def policy_of(settings: Settings) -> Policy:
    """The allowlists from settings."""
    return Policy(
        user_ids=settings.allowed_user_ids,
        usergroup_ids=settings.allowed_usergroup_ids,
        channel_ids=settings.allowed_channel_ids,
    )


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code ("invalid_auth", ...), or the HTTP status when there is none."""
    data = error.response.data if error.response is not None else None
    code = data.get("error") if isinstance(data, dict) else None
    return str(code) if code else f"HTTP {error.response.status_code}"


class SlackGroups:
    """User group membership through usergroups.users.list."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def members(self, group_id: str) -> frozenset[str]:
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as error:
            code = slack_error_code(error)
            hint = " (the app needs the usergroups:read scope)" if code == "missing_scope" else ""
            raise GroupLookupError(f"Slack said {code}{hint}") from None
        except (aiohttp.ClientError, TimeoutError):
            raise GroupLookupError("Slack did not answer") from None
        users = response.get("users")
        if not isinstance(users, list):
            raise GroupLookupError("Slack's answer had no member list")
        return frozenset(str(u) for u in users)


class CachedAuthorize:
    """Bolt's authorize for one workspace: auth.test once, shared by every request
    (Bolt's built-in one would call it from every request of a cold burst)."""

    def __init__(self, client: AsyncWebClient, bot_token: str) -> None:
        self._client = client
        self._bot_token = bot_token
        self._result: AuthorizeResult | None = None
        self._auth_tests: SingleFlight[None, AuthorizeResult] = SingleFlight()

    async def __call__(self) -> AuthorizeResult:
        if self._result is None:
            self._result = await self._auth_tests.run(None, self._auth_test)
        return self._result

    async def _auth_test(self) -> AuthorizeResult:
        response = await self._client.auth_test(token=self._bot_token)
        return AuthorizeResult.from_auth_test_response(
            bot_token=self._bot_token, auth_test_response=response
        )

    async def warm(self, within: float) -> None:
        """Call auth.test now; on failure, log it and let the first request retry."""
        try:
            result = await asyncio.wait_for(self(), within)
        except Exception as error:
            log.warning("auth.test at start failed (%s); will retry on the first request", error)
        else:
            log.info(
                "Slack bot token works: team %s, bot user %s", result.team_id, result.bot_user_id
            )


class SlackOut:
    """Everything the doors send to Slack, over one shared HTTP session."""

    def __init__(
        self, session: aiohttp.ClientSession, client: AsyncWebClient, backoff: float
    ) -> None:
        self._session = session
        self.client = client
        # Retry state lives per request, so one handler serves every post.
        self._retry = ResponseUrlRetryHandler(
            max_retry_count=2, interval_calculator=BackoffRetryIntervalCalculator(backoff)
        )

    async def respond(self, response_url: str, reply: Reply, request_id: str | None = None) -> bool:
        """Post to a response_url (in the channel when the reply is public), retrying
        with bounded backoff; a post that never lands is audited. True if it landed."""
        webhook = AsyncWebhookClient(
            response_url,
            session=self._session,
            retry_handlers=[self._retry],
        )
        status: int | None = None
        try:
            response = await webhook.send(
                text=reply.text,
                blocks=reply.blocks,
                response_type="in_channel" if reply.public else "ephemeral",
                replace_original=False,
            )
            status = response.status_code
        except (TimeoutError, aiohttp.ClientError) as error:
            failure = type(error).__name__
        else:
            if status == 200:
                return True
            failure = f"HTTP {status}"
        log.warning("could not post to a response_url: %s", failure)
        audit.write("reply_failed", request_id=request_id, via="response_url", error=failure)
        return False

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
    authorize: CachedAuthorize

    def reload(self, settings: Settings) -> None:
        """Apply new allowlists and rate limit without a restart."""
        self.service.access.policy = policy_of(settings)
        self.service.rate_limit.per_minute = settings.rate_limit_per_user_per_minute

    async def aclose(self) -> None:
        """Close the HTTP session shared by every Slack call."""
        await self.session.close()


def web_client(
    settings: Settings, session: aiohttp.ClientSession | None, token: str | None
) -> AsyncWebClient:
    """A Web API client with slack-sdk's own retries: connection errors, 5xx, and
    429 honouring Retry-After."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        session=session,
        timeout=max(1, round(settings.slack_timeout_seconds)),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def create_bot(settings: Settings, realtimekit: RealtimeKitClient) -> Bot:
    """Wire the doors to the use case. Call inside the running event loop."""
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.slack_timeout_seconds)
    )
    # Bolt's client carries no token: each request gets one from `authorize` (or the
    # workflow's own token). Our own calls use `client`, which carries the bot token.
    client = web_client(settings, session, settings.slack_bot_token.get())
    signing_secret = settings.slack_signing_secret
    authorize = CachedAuthorize(client, settings.slack_bot_token.get())

    async def authorize_any_request() -> AuthorizeResult:
        return await authorize()

    app = AsyncApp(
        client=web_client(settings, session, None),
        authorize=authorize_any_request,
        signing_secret=signing_secret.get() if signing_secret else "",
        request_verification_enabled=signing_secret is not None,
        # Listeners ack, hand their work to StopService.spawn and return at once, so
        # Bolt can answer Slack as soon as they return instead of polling for the ack.
        process_before_response=True,
        logger=logging.getLogger("bot.bolt"),
    )
    service = StopService(
        realtimekit,
        Access(policy_of(settings), SlackGroups(client)),
        RateLimit(settings.rate_limit_per_user_per_minute),
    )
    slack = SlackOut(session, client, settings.slack_retry_backoff_seconds)
    register(app, service, slack, settings.require_confirmation)
    return Bot(app=app, service=service, slack=slack, session=session, authorize=authorize)


Deliver = Callable[[Reply], Awaitable[None]]


def _after_ack(service: StopService, deliver: Deliver, work: Awaitable[None]) -> None:
    """Run a door's work once Slack has its ack: tracked for shutdown, and no exception
    reaches the person as a traceback: they get a reference to quote instead."""

    async def guarded() -> None:
        try:
            await work
        except StopCrashed as crash:
            ref = crash.request_id  # already logged with its traceback
        except Exception:
            ref = new_request_id()
            log.exception("unexpected error (ref: %s)", ref)
        else:
            return
        try:
            await deliver(messages.something_went_wrong(ref))
        except Exception:
            log.exception("could not tell the person about error %s", ref)

    service.spawn(guarded())


def register(
    app: AsyncApp, service: StopService, slack: SlackOut, confirm_first: bool = False
) -> None:
    """Attach the slash command, the button and the workflow step to `app`. With
    `confirm_first`, the slash command shows the status card instead of stopping."""

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        text = str(body.get("text") or "").strip()
        if text.lower() in ("", "help"):
            usage = messages.usage()
            await ack(text=usage.text, blocks=usage.blocks)
            return
        await ack()
        response_url = str(body["response_url"])
        first, _, rest = text.partition(" ")
        wants_status = first.lower() == "status"

        async def deliver(reply: Reply, request_id: str | None = None) -> None:
            await slack.respond(response_url, reply, request_id)

        stopping: list[asyncio.Future[None]] = []

        def on_accepted(meeting_id: MeetingId) -> None:
            # Said while the API call runs, not before it; the outcome waits for it.
            stopping.append(asyncio.ensure_future(deliver(messages.stopping(meeting_id))))

        request = StopRequest(
            door="command",
            user_id=str(body.get("user_id", "")),
            meeting_text=rest.strip() if wants_status else text,
            team_id=body.get("team_id"),
            channel_id=body.get("channel_id"),
        )

        async def work() -> None:
            if wants_status or confirm_first:
                looked = await service.status(request)
                card = messages.status_card(looked, time.time(), asked_to_stop=not wants_status)
                await deliver(card, looked.request_id)
                return
            outcome = await service.stop(request, on_accepted)
            if stopping:
                await stopping[0]
            if not isinstance(outcome, Redelivered):
                await deliver(messages.render(outcome), outcome.request_id)

        _after_ack(service, deliver, work())

    @app.action(ACTION_ID)
    async def on_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        user_id = str((body.get("user") or {}).get("id", ""))
        response_url = body.get("response_url")

        async def deliver(reply: Reply, request_id: str | None = None) -> None:
            if response_url:
                await slack.respond(str(response_url), reply, request_id)
            elif channel_id and reply.public:
                await slack.post(slack.client, channel_id, reply)
            elif channel_id:
                await slack.client.chat_postEphemeral(
                    channel=channel_id, user=user_id, text=reply.text, blocks=reply.blocks
                )
            else:
                log.warning("button press with nowhere to reply")

        # Buttons on the bot's own status cards carry "<meeting-id>|<shown at>".
        meeting_text, _, shown_at = str(action.get("value") or "").partition("|")
        request = StopRequest(
            door="button",
            user_id=user_id,
            meeting_text=meeting_text,
            team_id=(body.get("team") or {}).get("id"),
            channel_id=channel_id,
            issued_at=float(shown_at) if shown_at.isdigit() else None,
        )

        async def work() -> None:
            outcome = await service.stop(request)
            if not isinstance(outcome, Redelivered):
                await deliver(messages.render(outcome), outcome.request_id)

        _after_ack(service, deliver, work())

    @app.function(CALLBACK_ID)
    async def on_step(
        inputs: dict[str, Any],
        complete: AsyncComplete,
        fail: AsyncFail,
        client: AsyncWebClient,
        body: dict[str, Any],
    ) -> None:
        channel_id = inputs.get("channel_id") or None
        event = body.get("event") or {}
        request = StopRequest(
            door="workflow",
            user_id=str(inputs.get("user_id") or ""),
            meeting_text=str(inputs.get("meeting_id") or ""),
            team_id=body.get("team_id"),
            channel_id=channel_id,
            delivery_ids=tuple(
                f"{kind}:{value}"
                for kind, value in (
                    ("execution", event.get("function_execution_id")),
                    ("event", body.get("event_id")),
                )
                if value
            ),
        )

        async def deliver(reply: Reply) -> None:
            await fail(reply.text)

        async def work() -> None:
            outcome = await service.stop(request)
            if isinstance(outcome, Redelivered):
                return
            reply = messages.render(outcome)
            if isinstance(outcome, Attempted) and channel_id:
                try:
                    await slack.post(client, str(channel_id), reply)
                except Exception:
                    log.exception(
                        "could not post to the workflow's channel (ref: %s)", outcome.request_id
                    )
                    audit.write(
                        "reply_failed", request_id=outcome.request_id, via="chat.postMessage"
                    )
            if isinstance(outcome, Attempted) and isinstance(outcome.result, Stopped):
                await complete({"message": reply.text, "meeting_id": outcome.meeting_id})
            else:
                await fail(reply.text)

        _after_ack(service, deliver, work())
