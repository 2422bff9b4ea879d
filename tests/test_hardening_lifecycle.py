"""The process around the doors: start against a bad or absent Slack, Bolt's noise,
redelivery memory, and a second signal during the shutdown grace."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.state.memory import DEDUP_MAXSIZE, MemoryState
from tests.conftest import ALLOWED, MEETING, SECRETS, SIGNING_SECRET, Spawn, free_port, run_python
from tests.fakes import payloads


async def test_a_bot_token_slack_rejects_at_start_exits_2_naming_it(
    env: dict[str, str], slack: FakeSlack, tmp_path: Path
) -> None:
    async def rejected(_: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": False, "error": "invalid_auth"})

    slack.answer_api("auth.test", rejected)
    code, _, err = await run_python(
        "-m", "bot", "http", "--host", "127.0.0.1", "--port", "0", env=env, cwd=tmp_path, within=20
    )
    assert code == 2
    assert "SLACK_BOT_TOKEN" in err and "invalid_auth" in err
    assert "Traceback" not in err
    assert not any(secret in err for secret in SECRETS)


async def test_an_unreachable_slack_at_start_does_not_stop_the_bot_from_serving(
    spawn: Spawn,
) -> None:
    bot = await spawn(
        {"SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/", "SLACK_TIMEOUT_SECONDS": "0.3"}
    )
    async with aiohttp.ClientSession() as session, session.get(bot.url + "/healthz") as r:
        assert r.status == 200
        assert (await r.json())["slack"] == "unreachable"
    code, log = await bot.finish()
    assert code == 0
    assert "Slack did not answer auth.test at start" in log
    assert "Traceback" not in log


async def test_bolt_does_not_warn_about_the_bot_token_in_the_environment(spawn: Spawn) -> None:
    bot = await spawn()  # SLACK_BOT_TOKEN is in the process environment
    code, log = await bot.finish()
    assert code == 0
    assert "listening on" in log
    # Bolt says it as "will be ignored", or "will be unused" when given a client too.
    assert "will be ignored" not in log and "will be unused" not in log
    assert [line for line in log.splitlines() if "WARNING bot.bolt" in line] == []


async def test_redelivery_memory_is_bounded_at_its_real_size() -> None:
    state = MemoryState()
    for n in range(DEDUP_MAXSIZE + 1):
        await state.first_time(f"Ev{n}")
    assert (await state.first_time(f"Ev{DEDUP_MAXSIZE}")).value is False
    assert (await state.first_time("Ev0")).value is True  # the oldest was let go


async def test_a_second_sigterm_during_the_grace_exits_at_once(
    spawn: Spawn, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    bot = await spawn({"CLOUDFLARE_TIMEOUT_SECONDS": "30"})
    cloudflare.default = cloudflare.hang()
    body = payloads.form_body(payloads.slash_command(MEETING, ALLOWED, slack.response_url("cmd")))
    headers = payloads.signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
    async with (
        aiohttp.ClientSession() as session,
        session.post(bot.url + "/slack/events", data=body, headers=headers) as r,
    ):
        assert r.status == 200
    await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
    bot.proc.send_signal(signal.SIGTERM)
    await bot.until("no longer accepting")
    bot.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(bot.proc.wait(), 10)  # not the 25 s grace
    _, log = await bot.finish()
    assert '"outcome":"interrupted"' in log
