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
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import metrics
from bot.app import Bot, running_bot
from bot.config import ConfigError, Settings

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


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


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
) -> None:
    """Serve HTTP mode until `stop` is set; `started` gets the bound port."""
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
            await _drain(bot)
        finally:
            await runner.cleanup()


async def serve_socket(
    settings: Settings,
    stop: asyncio.Event,
    started: asyncio.Future[None] | None = None,
    reload: Reload | None = None,
) -> None:
    """Serve Socket Mode until `stop` is set."""
    assert settings.slack_app_token is not None
    async with running_bot(settings) as bot:
        reload_on_sighup(bot, reload)
        handler = TimedSocketModeHandler(bot.app, settings.slack_app_token.get())
        port = settings.metrics_port
        scraped = await metrics.start_server(port, bot.health) if port is not None else None
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("connected in Socket Mode")
            if started is not None:
                started.set_result(None)
            await stop.wait()
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
            if scraped is not None:
                await scraped.cleanup()
            log.info("shutting down: disconnected from Slack; finishing stops in flight")
            await _drain(bot)


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


async def _drain(bot: Bot) -> None:
    if not await bot.background.drain(SHUTDOWN_GRACE_SECONDS):
        log.warning("gave up waiting for stops in flight after %ss", SHUTDOWN_GRACE_SECONDS)
