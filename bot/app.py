"""Wiring: builds the clients, the use cases and the Bolt app once; one middleware puts
the listeners' dependencies on Bolt's context."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import listeners
from bot.access import Access, Policy
from bot.cache import Cache
from bot.config import ConfigError, Settings
from bot.listeners.background import Background
from bot.listeners.deps import CONTEXT_KEY, Deps
from bot.listeners.reply import Replier, retry_policy
from bot.realtimekit import RealtimeKitClient
from bot.service.live import FindService
from bot.service.stop import STOP_LOCK_SECONDS, StopService
from bot.service.stop_all import StopAllService
from bot.state import State, open_state
from bot.usergroups import SlackGroups, slack_error_code

log = logging.getLogger(__name__)

# auth.test errors that no retry will mend: the token itself is wrong.
BAD_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "not_authed", "account_inactive", "token_expired"}
)
SLACK_RETRY_SECONDS = 10.0


def raise_if_rejected(code: str, variable: str, fix: str) -> None:
    """A ConfigError naming `variable` when Slack's error `code` means the token itself
    is wrong: no retry will mend that."""
    if code in BAD_TOKEN_ERRORS:
        raise ConfigError([f"{variable} was rejected by Slack ({code}): {fix}"])


def policy_of(settings: Settings) -> Policy:
    """The allowlists from settings."""
    return Policy(
        user_ids=settings.allowed_user_ids,
        usergroup_ids=settings.allowed_usergroup_ids,
        channel_ids=settings.allowed_channel_ids,
    )


def stop_all_policy_of(settings: Settings) -> Policy:
    """Who may stop everything at once (on top of `policy_of`)."""
    return Policy(settings.allowed_stop_all_user_ids, settings.allowed_stop_all_usergroup_ids)


class CachedAuthorize:
    """Bolt's authorize for one workspace: auth.test once at start, shared by every
    request. Bolt's own single-team authorization calls auth.test lazily from every
    request until the first answer arrives (a cold burst of N requests makes up to N
    calls: `benchmarks/cold_authorize.py` measured 100 auth.test calls for 100 commands
    against 1) and has no hook to call it at start, where a bad token should stop us."""

    def __init__(self, client: AsyncWebClient, bot_token: str) -> None:
        self._client = client
        self._bot_token = bot_token
        self._result: Cache[None, AuthorizeResult] = Cache(float("inf"), maxsize=1)
        self.slack: Literal["ok", "unreachable", "rejected"] = "unreachable"

    async def __call__(self) -> AuthorizeResult:
        result = await self._result.load(None, self._auth_test)
        self.slack = "ok"
        return result

    async def _auth_test(self) -> AuthorizeResult:
        response = await self._client.auth_test(token=self._bot_token)
        return AuthorizeResult.from_auth_test_response(
            bot_token=self._bot_token, auth_test_response=response
        )

    async def warm(self, within: float) -> bool:
        """Call auth.test now. A rejected token is a configuration error (ConfigError);
        any other failure is logged and False returned, to be retried."""
        try:
            result = await asyncio.wait_for(self(), within)
        except SlackApiError as error:
            code = slack_error_code(error)
            raise_if_rejected(
                code, "SLACK_BOT_TOKEN",
                "reinstall the app and copy the Bot User OAuth Token from OAuth & Permissions",
            )  # fmt: skip
            log.warning("auth.test at start failed (%s); retrying in the background", code)
            return False
        except Exception as error:
            log.warning(
                "Slack did not answer auth.test at start (%s); retrying in the background",
                type(error).__name__,
            )
            return False
        log.info("Slack bot token works: team %s, bot user %s", result.team_id, result.bot_user_id)
        return True

    async def keep_trying(self, within: float) -> None:
        """Retry auth.test until it works (for a Slack that was unreachable at start)."""
        try:
            while not await self.warm(within):  # noqa: ASYNC110 (polling Slack, not an event)
                await asyncio.sleep(SLACK_RETRY_SECONDS)
        except ConfigError as error:
            self.slack = "rejected"  # /healthz says so; every request would fail
            log.error("%s", error)


class _IgnoreTokenSkippedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when `authorize` is given,
    then warns that it ignores it ("will be unused" when, as here, a `client` is given
    too); our authorize supplies that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return "will be ignored" not in message and "will be unused" not in message


@dataclass
class Bot:
    """The wired app and what must be closed with it."""

    app: AsyncApp
    service: StopService
    replier: Replier  # every reply, and the bot's own Web API client (`replier.client`)
    background: Background
    session: aiohttp.ClientSession
    authorize: CachedAuthorize
    state: State
    stop_all: StopAllService | None = None

    def health(self) -> dict[str, object]:
        """What /healthz reports. Always ok while the process serves: a store or Slack
        outage must not take every copy out of a load balancer."""
        return {"ok": True, "state": self.state.status, "slack": self.authorize.slack}

    def reload(self, settings: Settings) -> None:
        """Apply new allowlists and rate limit without a restart."""
        self.service.access.policy = policy_of(settings)
        self.service.per_minute = settings.rate_limit_per_user_per_minute
        if self.stop_all is not None:
            self.stop_all.access.policy = stop_all_policy_of(settings)

    async def aclose(self) -> None:
        """Close the HTTP session shared by every Slack call."""
        await self.session.close()


class ProvideDeps(AsyncMiddleware):
    """Puts the listeners' dependencies on every request's context."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt passes it by this name
    ) -> BoltResponse | None:
        """Add the dependencies and pass the request on."""
        req.context[CONTEXT_KEY] = self._deps
        return await next()


def web_client(
    settings: Settings, session: aiohttp.ClientSession | None, token: str | None
) -> AsyncWebClient:
    """A Web API client with the replies' retry policy (bot.listeners.reply)."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        session=session,
        timeout=max(1, round(settings.slack_timeout_seconds)),
        retry_handlers=retry_policy(settings.slack_retry_backoff_seconds),
    )


def create_bot(settings: Settings, realtimekit: RealtimeKitClient, state: State) -> Bot:
    """Wire the listeners to the use cases. Call inside the running event loop."""
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

    bolt_log = logging.getLogger("bot.bolt")
    bolt_log.addFilter(_IgnoreTokenSkippedWarning())
    app = AsyncApp(
        name="stop-livestream-bot",  # else Bolt inspects the call stack for one (36 ms)
        client=web_client(settings, session, None),
        authorize=authorize_any_request,
        signing_secret=signing_secret.get() if signing_secret else "",
        request_verification_enabled=signing_secret is not None,
        # Listeners ack, hand their work to Background.run and return at once, so Bolt
        # can answer Slack as soon as they return instead of polling for the ack.
        process_before_response=True,
        logger=bolt_log,
    )
    groups = SlackGroups(client)  # one cache of the groups, for both policies
    service = StopService(
        realtimekit,
        Access(policy_of(settings), groups),
        settings.rate_limit_per_user_per_minute,
        state,
        lock_ttl=settings.stop_lock_seconds or STOP_LOCK_SECONDS,
    )
    replier = Replier(session, client)
    background = Background(realtimekit.stop_sending)
    finder = FindService(realtimekit, service)
    stop_all = StopAllService(
        service,
        realtimekit,
        Access(stop_all_policy_of(settings), groups),
        settings.cloudflare_max_concurrency,
    )
    deps = Deps(service, finder, stop_all, replier, background, settings.require_confirmation)
    app.middleware(ProvideDeps(deps))
    listeners.register(app)
    return Bot(app, service, replier, background, session, authorize, state, stop_all)


@contextlib.asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[Bot]:
    """The bot with its clients open and its Slack token checked; all closed on the
    way out. Raises ConfigError when Slack rejects the bot token."""
    url = settings.state_url.get() if settings.state_url is not None else None
    # One namespace per RealtimeKit app: copies for the same app share it.
    prefix = f"stop-livestream-bot:{settings.cloudflare_account_id}:{settings.realtimekit_app_id}:"
    state = await open_state(url, prefix=prefix)
    client = RealtimeKitClient.from_settings(settings, state=state)  # one API budget
    bot = create_bot(settings, client, state)
    retrying: asyncio.Task[None] | None = None
    try:
        await client.warm()
        if not await bot.authorize.warm(settings.slack_timeout_seconds):
            retrying = asyncio.create_task(
                bot.authorize.keep_trying(settings.slack_timeout_seconds)
            )
        yield bot
    finally:
        if retrying is not None:
            retrying.cancel()
        await bot.aclose()
        await client.aclose()
        await state.aclose()
