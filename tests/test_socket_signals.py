"""Socket Mode ends on a signal in every state, and a rejected app token is a
configuration error, not something retried forever."""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from bot.demo.standins import StandInSlack as FakeSlack
from tests.conftest import process_env


async def start_socket_mode(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "socket",
        env=process_env(env), stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


def refuse(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})


async def test_a_rejected_app_token_exits_2_naming_it(
    env: dict[str, str], slack: FakeSlack
) -> None:
    async def rejected(_: web.Request) -> web.StreamResponse:
        return refuse("invalid_auth")

    slack.answer_api("apps.connections.open", *[rejected] * 20)
    proc = await start_socket_mode(env)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert "SLACK_APP_TOKEN was rejected by Slack (invalid_auth)" in err.decode()
    assert "Traceback" not in err.decode()


async def test_sigterm_ends_socket_mode_while_slack_keeps_failing(
    env: dict[str, str], slack: FakeSlack
) -> None:
    async def unavailable(_: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="down")

    slack.answer_api("apps.connections.open", *[unavailable] * 100)
    proc = await start_socket_mode(env)
    # Wait until the bot has tried (and failed) to open a connection more than once.
    await slack.wait_calls("apps.connections.open", 2, within=20)
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, err.decode()[-3000:]
