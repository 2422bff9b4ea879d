"""Runners: HTTP mode (POST /slack/events, GET /healthz, GET /metrics; what stands
before Bolt is bot/http_guard.py) and Socket Mode (with GET /metrics and GET /healthz on
METRICS_PORT when it is set).

Both stop the same way: on SIGTERM or SIGINT they take no new work, give stops in
flight up to SHUTDOWN_GRACE_SECONDS to finish, and return. In HTTP mode every request
after that gets 503, also on connections opened before.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import metrics
from bot.app import Bot, raise_if_rejected, running_bot
from bot.config import ConfigError, Settings
from bot.http_guard import Clock, Guard, ReadDeadline
from bot.usergroups import slack_error_code

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
SHUTDOWN_GRACE_SECONDS = 25.0
READ_TIMEOUT_SECONDS = 10.0
KEEPALIVE_TIMEOUT_SECONDS = 15.0


class Malformed(Exception):
    """A signed body Bolt cannot read (answer 400); the reason never quotes the client."""


def http_app(bot: Bot, guard: Guard) -> web.Application:
    """The three routes behind `guard`, bodies capped, every answer to Slack timed."""

    async def events(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length)
        text = await guard.verified(request)
        if isinstance(text, web.Response):
            return text
        try:
            verified = bolt_request(text, request)
        except Malformed as malformed:
            log.warning("answered 400 to a signed request to /slack/events: %s", malformed)
            return web.Response(status=400)
        # Bolt verifies the signature again (app.py leaves request_verification_enabled
        # on): one more HMAC of the same bytes, microseconds, kept as defence in depth.
        return await to_aiohttp_response(await bot.app.async_dispatch(verified))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(bot.health())

    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[metrics.time_acks, guard.middleware]
    )
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics.serve_metrics)
    return app


def bolt_request(text: str, request: web.Request) -> AsyncBoltRequest:
    """Bolt's request for a verified body, read by Bolt's own parser; else Malformed."""
    if request.charset is not None:
        try:
            charset = codecs.lookup(request.charset).name
        except LookupError:
            raise Malformed("unknown charset in Content-Type") from None
        if charset != "utf-8":
            raise Malformed("charset other than UTF-8 in Content-Type")
    try:
        parsed: object = parse_body(text, request.content_type)
    except RecursionError:
        raise Malformed("JSON nested too deeply") from None
    except ValueError:
        raise Malformed("not valid JSON") from None
    if not isinstance(parsed, dict):
        raise Malformed("JSON that is not an object")
    try:
        return AsyncBoltRequest(body=text, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
    except (TypeError, AttributeError, KeyError, IndexError, ValueError):
        # Bolt reads ids out of fixed places (team, user, channel...) and assumes their types.
        raise Malformed("fields of unexpected types") from None


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
    *,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    keepalive_timeout: float = KEEPALIVE_TIMEOUT_SECONDS,
    clock: Clock = time.monotonic,
) -> None:
    """Serve HTTP mode until `stop` is set; `started` gets the bound port; `hurry` cuts
    the wait for work in flight short.

    A connection must deliver each request line and headers within `read_timeout`, and
    the body within as long again; an idle keep-alive connection is closed after
    `keepalive_timeout`. `clock` paces the once-a-minute report lines."""
    if settings.slack_signing_secret is None:
        raise ConfigError(["SLACK_SIGNING_SECRET is not set: HTTP mode needs it"])
    guard = Guard(settings.slack_signing_secret.get(), stop, read_timeout, clock)
    async with running_bot(settings) as bot:
        reload_on_sighup(bot, reload)
        async with _listening(http_app(bot, guard), guard, host, port, keepalive_timeout) as listener:  # fmt: skip
            bound = int(listener.sockets[0].getsockname()[1])
            log.info("listening on http://%s:%s (POST /slack/events, GET /healthz)", host, bound)
            if started is not None:
                started.set_result(bound)
            await stop.wait()
            listener.close()
            log.info("shutting down: no longer accepting requests; finishing stops in flight")
            await _drain(bot, hurry)


@contextlib.asynccontextmanager
async def _listening(
    app: web.Application, guard: Guard, host: str, port: int, keepalive_timeout: float
) -> AsyncIterator[asyncio.Server]:
    """`app` on host:port, each connection under `guard`'s read deadline, and aiohttp's
    parse errors and accept() failing as its reports. On the way out: the listener
    closed, then the connections, then asyncio's accept() retries waited out."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=keepalive_timeout,
        # After an early answer (401, 413, 408) aiohttp reads and drops the rest of
        # the body for this long, so the client sees the answer, then closes.
        lingering_time=guard.read_timeout,
    )
    await runner.setup()
    aiohttp_protocol = runner.server
    assert aiohttp_protocol is not None
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not guard.loop_error(loop, context):
            (previous or type(loop).default_exception_handler)(loop, context)

    aiohttp_log = logging.getLogger("aiohttp.server")
    loop.set_exception_handler(handle)
    aiohttp_log.addFilter(guard.quiet)
    listener: asyncio.Server | None = None
    try:
        # Our own listener instead of web.TCPSite, so every connection gets the deadline
        # (a ReadDeadline delegates to aiohttp's protocol, it does not subclass one).
        factory = lambda: ReadDeadline(aiohttp_protocol(), guard.read_timeout, guard.slow)  # noqa: E731
        listener = await loop.create_server(cast(Any, factory), host, port, backlog=2048)
        yield listener
    finally:
        if listener is not None:
            listener.close()
        await runner.cleanup()
        await guard.settled()
        aiohttp_log.removeFilter(guard.quiet)
        loop.set_exception_handler(previous)


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
        response = await bot.replier.client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        code = slack_error_code(error)
        raise_if_rejected(
            code, "SLACK_APP_TOKEN",
            "create an app-level token with the connections:write scope under Basic Information",
        )  # fmt: skip
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


async def _drain(bot: Bot, hurry: asyncio.Event | None = None) -> None:
    if not await bot.background.drain(SHUTDOWN_GRACE_SECONDS, hurry):
        log.warning("gave up waiting for stops in flight after %ss", SHUTDOWN_GRACE_SECONDS)
