"""The console entry point as a real process: configuration errors, HTTP routes, and a
graceful SIGTERM while a stop is in flight."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from tests.conftest import ALLOWED, MEETING, SECRETS, BotProcess, Spawn, run_python
from tests.fakes import payloads


async def test_bad_configuration_exits_2_listing_every_problem_without_values(
    tmp_path: Path,
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxp-hunter2",
        "CLOUDFLARE_API_TOKEN": "cf-hunter2",
    }
    code, out, err = await run_python("-m", "bot", "http", env=env, cwd=tmp_path)
    assert code == 2
    assert "Traceback" not in err
    for name in [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "CLOUDFLARE_ACCOUNT_ID",
        "REALTIMEKIT_APP_ID",
        "ALLOWED_USER_IDS",
    ]:
        assert name in err
    assert "hunter2" not in err + out


async def test_dotenv_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\n")
    code, _, err = await run_python("-m", "bot", "socket", env={}, cwd=tmp_path)
    assert code == 2
    assert "SLACK_BOT_TOKEN" not in err  # came from .env
    assert "SLACK_APP_TOKEN is not set" in err


@pytest.fixture
async def http_process(spawn: Spawn) -> BotProcess:
    return await spawn({"LOG_LEVEL": "DEBUG"})


async def test_http_mode_serves_healthz_and_nothing_else(
    http_process: BotProcess,
) -> None:
    url = http_process.url
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/healthz") as r:
            assert r.status == 200
            assert (await r.json())["ok"] is True
        async with session.get(url + "/admin") as r:
            assert r.status == 404
        async with session.post(url + "/slack/events", data=b"x" * (2 * 1024 * 1024)) as r:
            assert r.status == 413


async def test_sigterm_finishes_the_stop_in_flight_then_exits_0(
    http_process: BotProcess,
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
) -> None:
    proc, url, lines = http_process.proc, http_process.url, http_process.lines
    gate = asyncio.Event()
    cloudflare.then(cloudflare.gated(gate))
    body = payloads.form_body(payloads.slash_command(MEETING, ALLOWED, slack.response_url("cmd")))
    async with aiohttp.ClientSession() as session:
        headers = payloads.signed_headers(SECRETS[0], body, "application/x-www-form-urlencoded")
        async with session.post(url + "/slack/events", data=body, headers=headers) as r:
            assert r.status == 200
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1, 10)

        proc.send_signal(signal.SIGTERM)
        await http_process.until("no longer accepting")
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with fresh.get(url + "/healthz"):
                pass
    gate.set()
    replies = await slack.wait_responses(2, "cmd", within=10)
    assert replies[-1]["response_type"] == "in_channel"
    assert "Stopped live stream successfully" in replies[-1]["text"]
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    assert proc.stderr is not None
    lines.append((await proc.stderr.read()).decode())
    log = "".join(lines)
    assert "Traceback" not in log
    for secret in SECRETS:
        assert secret not in log


async def test_no_subcommand_picks_socket_mode_when_an_app_token_is_set(tmp_path: Path) -> None:
    _, _, socket_err = await run_python(
        "-m", "bot", env={"SLACK_APP_TOKEN": "xapp-1"}, cwd=tmp_path
    )
    _, _, http_err = await run_python("-m", "bot", env={}, cwd=tmp_path)
    assert "SLACK_SIGNING_SECRET" not in socket_err  # Socket Mode does not need it
    assert "SLACK_SIGNING_SECRET is not set: HTTP mode needs it" in http_err
    assert "SLACK_APP_TOKEN" not in http_err
