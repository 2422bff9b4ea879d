"""Fixtures: fake Slack and Cloudflare on 127.0.0.1, and the real bot in HTTP mode."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.jitter import RandomJitter

from bot.config import Settings, load_settings
from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import Handler, cf_success
from bot.demo.standins import StandInSlack as FakeSlack
from bot.server import serve_http
from tests.fakes import payloads
from tests.fakes.harness import ROOT as ROOT
from tests.fakes.harness import BotProcess, LogWatch, process_env
from tests.fakes.harness import run_python as run_python
from tests.fakes.valkey import free_port

SIGNING_SECRET = "signing-secret-hunter2-0123456789"
BOT_TOKEN = "xoxb-bot-token-hunter2-0123"
APP_TOKEN = "xapp-app-token-hunter2-0123"
CF_TOKEN = "cf-api-token-hunter2-0123"
SECRETS = (SIGNING_SECRET, BOT_TOKEN, APP_TOKEN, CF_TOKEN, "hunter2")

ACCOUNT = "0123456789abcdef0123456789abcdef"
APP_ID = "app-123"
ALLOWED = "U0ALLOWED"
OTHER_ALLOWED = "W0ALSO"
STRANGER = "U0STRANGER"
MEETING = "9f2b5c1e-3d4a-4b6c-8e7f-0a1b2c3d4e5f"
STOP_PATH = (
    f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP_ID}/meetings/{MEETING}/active-livestream/stop"
)


@pytest.fixture(autouse=True)
def no_retry_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack-sdk adds up to 1 s of random jitter to each retry's backoff: real waiting
    that no test asserts on. Tests keep the backoff itself (start_bot shrinks it)."""
    monkeypatch.setattr(RandomJitter, "recalculate", lambda _self, duration: duration)


@pytest.fixture
def slack_rate_limit_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """slack-sdk's 429 handler sleeps Retry-After (whole seconds) plus up to 1 s: record
    each wait it asks for, and go on at once."""
    asked: list[float] = []

    async def sleep(seconds: float) -> None:
        asked.append(seconds)
        await asyncio.sleep(0)

    shim = types.SimpleNamespace(sleep=sleep)  # the handlers' only use of asyncio
    monkeypatch.setattr(builtin_async_handlers, "asyncio", shim)
    return asked


@pytest.fixture
async def cloudflare() -> AsyncIterator[StandInRealtimeKit]:
    """The RealtimeKit stand-in: success to every stop and status read unless scripted."""
    fake = StandInRealtimeKit(default=cf_success())
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def rk() -> AsyncIterator[StandInRealtimeKit]:
    """The RealtimeKit stand-in answering from its state (live list, meetings, stops),
    empty: a test or a module's own `rk` fixture makes streams live."""
    api = StandInRealtimeKit()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
async def rk_bot(start_bot: StartBot, rk: StandInRealtimeKit) -> RunningBot:
    """The bot in HTTP mode against `rk`."""
    return await start_bot(CLOUDFLARE_API_BASE_URL=rk.base_url)


@pytest.fixture
def env(cloudflare: StandInRealtimeKit, slack: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "CLOUDFLARE_API_TOKEN": CF_TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "REALTIMEKIT_APP_ID": APP_ID,
        "ALLOWED_USER_IDS": f"{ALLOWED}, {OTHER_ALLOWED}",
        "CLOUDFLARE_API_BASE_URL": cloudflare.base_url,
        "SLACK_API_URL": slack.api_url,
        "CLOUDFLARE_TIMEOUT_SECONDS": "2",
    }


@dataclasses.dataclass
class RunningBot:
    """The bot serving HTTP mode in this event loop, and a Slack-like client for it."""

    url: str
    slack: FakeSlack
    session: aiohttp.ClientSession
    secret: str = SIGNING_SECRET

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        sent = payloads.signed_headers(secret or self.secret, body, content_type, timestamp)
        sent.update(headers or {})
        async with self.session.post(
            self.url + "/slack/events", data=body.encode(), headers=sent
        ) as r:
            return r.status, await r.text()

    async def command(
        self, text: str, user_id: str = ALLOWED, *, response: str = "cmd", channel_id: str = "C0OPS"
    ) -> tuple[int, str]:
        fields = payloads.slash_command(
            text, user_id, self.slack.response_url(response), channel_id
        )
        return await self.post(payloads.form_body(fields), "application/x-www-form-urlencoded")

    async def click(
        self,
        value: str,
        user_id: str = ALLOWED,
        *,
        response: str | None = "btn",
        channel_id: str = "C0OPS",
    ) -> tuple[int, str]:
        url = self.slack.response_url(response) if response is not None else None
        body = payloads.action_body(payloads.button_click(value, user_id, url, channel_id))
        return await self.post(body, "application/x-www-form-urlencoded")

    async def step(
        self,
        inputs: dict[str, Any],
        *,
        execution_id: str = "Fx0001",
        event_id: str = "Ev0001",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        body = json.dumps(payloads.function_executed(inputs, execution_id, event_id))
        return await self.post(body, "application/json", headers=headers)


StartBot = Callable[..., Awaitable[RunningBot]]
Spawn = Callable[..., Awaitable[BotProcess]]


def in_channel(slack: FakeSlack, name: str) -> list[dict[str, Any]]:
    """The replies posted in the channel through the response_url `name`."""
    return [r for r in slack.responses(name) if r.get("response_type") == "in_channel"]


async def channel_post(slack: FakeSlack, name: str = "cmd", within: float = 10.0) -> dict[str, Any]:
    """The one reply posted in the channel through the response_url `name`."""
    await slack.recorder.wait_for(lambda _: bool(in_channel(slack, name)), within)
    [post] = in_channel(slack, name)
    return post


def slack_error(code: str) -> Handler:
    """A Slack Web API answer: not ok, with the error `code`."""

    async def answer(_: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": False, "error": code})

    return answer


@pytest.fixture
async def start_bot(env: dict[str, str], slack: FakeSlack) -> AsyncIterator[StartBot]:
    """Start the real HTTP server; keyword arguments override env variables."""
    stops: list[tuple[asyncio.Event, asyncio.Task[None]]] = []
    session = aiohttp.ClientSession()

    async def start(settings: Settings | None = None, **overrides: str) -> RunningBot:
        if settings is None:
            settings = load_settings({**env, **overrides}, "http")
            settings = dataclasses.replace(
                settings, cloudflare_retry_backoff_seconds=0.01, slack_retry_backoff_seconds=0.01
            )
        stop = asyncio.Event()
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve_http(settings, "127.0.0.1", 0, stop, started))
        stops.append((stop, task))
        done, _ = await asyncio.wait(
            [started, task], timeout=10, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()
        port = await asyncio.wait_for(started, 1)
        return RunningBot(f"http://127.0.0.1:{port}", slack, session)

    yield start
    for stop, task in stops:
        stop.set()
        await asyncio.wait_for(task, 30)
    await session.close()


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot()


@pytest.fixture
def logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    watch.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(watch)
    yield watch
    root.removeHandler(watch)
    root.setLevel(old_level)


@pytest.fixture
async def spawn(env: dict[str, str], tmp_path: Path) -> AsyncIterator[Spawn]:
    """Start the bot as a process in HTTP mode, in tmp_path; `overrides` replace env
    variables (None removes one)."""
    procs: list[asyncio.subprocess.Process] = []

    async def start(overrides: dict[str, str | None] | None = None) -> BotProcess:
        port = free_port()
        merged = {**env, **(overrides or {})}
        full = process_env({k: v for k, v in merged.items() if v is not None})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "http", "--host", "127.0.0.1", "--port", str(port),
            env=full, cwd=tmp_path, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        procs.append(proc)
        running = BotProcess(proc, f"http://127.0.0.1:{port}", [])
        await running.until("listening on")
        return running

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def serve(
    env: dict[str, str], **overrides: str
) -> tuple[str, asyncio.Event, asyncio.Task[None]]:
    """A bot whose shutdown the test starts (set the event), as SIGTERM would."""
    settings = load_settings({**env, "CLOUDFLARE_TIMEOUT_SECONDS": "10", **overrides}, "http")
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(serve_http(settings, "127.0.0.1", 0, stop, started))
    port = await asyncio.wait_for(started, 10)
    return f"http://127.0.0.1:{port}", stop, serving
