"""Runners: HTTP mode (POST /slack/events, GET /healthz, GET /metrics) and Socket Mode
(with GET /metrics and GET /healthz on METRICS_PORT when it is set).

Both stop the same way: on SIGTERM or SIGINT they take no new work, give stops in
flight up to SHUTDOWN_GRACE_SECONDS to finish, and return.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import metrics
from bot.app import BAD_TOKEN_ERRORS, Bot, running_bot
from bot.config import ConfigError, Settings
from bot.usergroups import slack_error_code

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
SHUTDOWN_GRACE_SECONDS = 25.0


def http_app(bot: Bot) -> web.Application:
    """The aiohttp application: the three routes, nothing else, bodies capped."""

    async def events(request: web.Request) -> web.Response:
        response = await bot.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(bot.health())

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics.serve_metrics)
    app.middlewares.insert(0, metrics.time_acks)  # outermost: it times the whole answer
    return app


Reload = Callable[[], Settings]


def stop_on_signals() -> tuple[asyncio.Event, asyncio.Event]:
    """Two events: `stop`, set by the first SIGTERM or SIGINT (finish what is in flight,
    within the grace), and `hurry`, set by a second one (stop waiting at once)."""
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            log.warning("second signal: not waiting for stops in flight any longer")
            hurry.set()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    return stop, hurry


def reload_on_sighup(bot: Bot, reload: Reload | None) -> None:
    """On SIGHUP, re-read the configuration and apply the allowlists and rate limit;
    a configuration with problems is reported and the running one kept."""
    if reload is None:
        return

    def apply() -> None:
        try:
            settings = reload()
        except ConfigError as error:
            log.error(
                "SIGHUP: kept the running allowlist; the configuration has problems: %s", error
            )
            return
        bot.reload(settings)
        log.info(
            "SIGHUP: reloaded the allowlists (%d users, %d user groups, channels: %s)",
            len(settings.allowed_user_ids),
            len(settings.allowed_usergroup_ids),
            "any" if settings.allowed_channel_ids is None else len(settings.allowed_channel_ids),
        )

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, apply)


async def serve_http(
    settings: Settings,
    host: str,
    port: int,
    stop: asyncio.Event,
    started: asyncio.Future[int] | None = None,
    reload: Reload | None = None,
    hurry: asyncio.Event | None = None,
) -> None:
    """Serve HTTP mode until `stop` is set; `started` gets the bound port; `hurry` cuts
    the wait for work in flight short."""
    async with running_bot(settings) as bot:
        reload_on_sighup(bot, reload)
        runner = web.AppRunner(http_app(bot), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, backlog=2048)
            await site.start()
            bound = _bound_port(runner, port)
            log.info("listening on http://%s:%s (POST /slack/events, GET /healthz)", host, bound)
            if started is not None:
                started.set_result(bound)
            await stop.wait()
            await site.stop()
            log.info("shutting down: no longer accepting requests; finishing stops in flight")
            await _drain(bot, hurry)
        finally:
            await runner.cleanup()


async def serve_socket(
    settings: Settings,
    stop: asyncio.Event,
    started: asyncio.Future[None] | None = None,
    reload: Reload | None = None,
    hurry: asyncio.Event | None = None,
) -> None:
    """Serve Socket Mode until `stop` is set, which also ends a connection attempt that
    Slack keeps refusing. Raises ConfigError when Slack rejects the app token."""
    assert settings.slack_app_token is not None
    app_token = settings.slack_app_token.get()
    async with running_bot(settings) as bot:
        reload_on_sighup(bot, reload)
        url = await _open_url(bot, app_token)
        handler = TimedSocketModeHandler(bot.app, app_token)
        handler.client.wss_uri = url  # the first connection uses it; None: ask again
        port = settings.metrics_port
        scraped = await metrics.start_server(port, bot.health) if port is not None else None
        # slack-sdk retries a failed connection forever: wait for it or for `stop`.
        connecting = asyncio.ensure_future(handler.connect_async())  # type: ignore[no-untyped-call]
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if connecting.done() and connecting.exception() is None:
                log.info("connected in Socket Mode")
                if started is not None:
                    started.set_result(None)
                await stopping
        finally:
            connecting.cancel()
            stopping.cancel()
            await handler.close_async()  # type: ignore[no-untyped-call]
            if scraped is not None:
                await scraped.cleanup()
            log.info("shutting down: disconnected from Slack; finishing stops in flight")
            await _drain(bot, hurry)


async def _open_url(bot: Bot, app_token: str) -> str | None:
    """A Socket Mode URL from Slack: a rejected app token is a configuration error, not
    something to retry every 10 s. Other failures are left to slack-sdk's retries."""
    try:
        response = await bot.outbox.client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        code = slack_error_code(error)
        if code in BAD_TOKEN_ERRORS:
            raise ConfigError(
                [f"SLACK_APP_TOKEN was rejected by Slack ({code}): create an app-level token "
                 "with the connections:write scope under Basic Information"]
            ) from None  # fmt: skip
        log.warning("Slack refused to open Socket Mode (%s); retrying", code)
        return None
    except Exception as error:
        log.warning("could not reach Slack to open Socket Mode (%s)", type(error).__name__)
        return None
    url = response.get("url")
    return url if isinstance(url, str) else None


class TimedSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, timing each envelope from its arrival to its ack."""

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        """Dispatch and ack `req`, observing the time taken."""
        with metrics.ACK_SECONDS.labels("socket").time():
            await super().handle(client, req)  # type: ignore[arg-type]


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return asked


async def _drain(bot: Bot, hurry: asyncio.Event | None = None) -> None:
    if not await bot.background.drain(SHUTDOWN_GRACE_SECONDS, hurry):
        log.warning("gave up waiting for stops in flight after %ss", SHUTDOWN_GRACE_SECONDS)
