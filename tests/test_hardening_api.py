"""A stop is never POSTed twice blindly, every attempt and call is bounded in time, and a
stop cut off by shutdown is audited and told. Driven through the slash command."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from bot import server
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error, cf_json, cf_live, cf_raw, cf_reset_mid_body, cf_success
from bot.env import Secret
from bot.realtimekit import MeetingId, RealtimeKitClient, TimedOut
from bot.realtimekit.client import CALL_BUDGET_SECONDS
from tests.conftest import (
    ACCOUNT,
    APP_ID,
    CF_TOKEN,
    MEETING,
    LogWatch,
    RunningBot,
    StartBot,
    channel_post,
    serve,
)
from tests.fakes.faults import FlakyResolver, cf_trickle
from tests.test_slash_command import assert_inert

NOT_LIVE = cf_dyte_error(404, "No active livestream found for this meeting")


def calls(cloudflare: FakeCloudflare) -> list[str]:
    """What the fake Cloudflare received for the meeting's livestream, in order: POST
    (stop) or GET (status read); the name reads that run beside a stop are left out."""
    return [r.method for r in cloudflare.recorder.received if "/active-livestream" in r.path]


def stop_audit(logs: LogWatch) -> dict[str, Any]:
    [line] = [r for r in logs.audit() if r["event"] == "stop"]
    return line


# ----------------------------------------------------------- a lost answer is checked


async def test_a_504_after_the_stop_took_effect_is_checked_not_posted_again(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    cloudflare.then(cf_raw(504, b"<html>504 Gateway Time-out</html>"), NOT_LIVE)
    await bot.command(MEETING)
    text = (await channel_post(bot.slack))["text"]
    assert "stopped the livestream" in text
    assert "first answer was lost (HTTP 504 from Cloudflare's edge)" in text
    assert "no longer live" in text
    assert calls(cloudflare) == ["POST", "GET"]
    assert stop_audit(logs)["outcome"] == "stopped_answer_lost"


async def test_a_read_timeout_is_checked_not_posted_again(
    start_bot: StartBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    bot = await start_bot(CLOUDFLARE_TIMEOUT_SECONDS="0.3")
    cloudflare.then(cloudflare.hang(), NOT_LIVE)
    await bot.command(MEETING)
    text = (await channel_post(bot.slack))["text"]
    assert "first answer was lost (timed out after 0.3 s)" in text
    assert "no longer live" in text
    assert calls(cloudflare) == ["POST", "GET"]
    assert stop_audit(logs)["outcome"] == "stopped_answer_lost"


async def test_a_reset_mid_answer_while_still_live_is_posted_again(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    cloudflare.then(cf_reset_mid_body(), cf_live(MEETING), cf_success("stopped on the retry"))
    await bot.command(MEETING)
    text = (await channel_post(bot.slack))["text"]
    assert "Cloudflare says: stopped on the retry" in text
    assert calls(cloudflare) == ["POST", "GET", "POST"]
    assert stop_audit(logs)["outcome"] == "stopped"


async def test_a_lost_answer_whose_check_fails_too_says_what_is_known(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    cloudflare.then(cf_raw(504, b""), cf_dyte_error(500, "Internal error"))
    await bot.command(MEETING)
    text = (await channel_post(bot.slack))["text"]
    assert "answer was lost (HTTP 504 from Cloudflare's edge)" in text
    assert "checking the livestream failed too" in text
    assert "may or may not have stopped" in text
    assert calls(cloudflare) == ["POST", "GET"]
    assert stop_audit(logs)["outcome"] == "unconfirmed"


async def test_a_lost_answer_checked_against_a_meeting_not_found_is_not_called_stopped(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    cloudflare.then(cf_raw(504, b""), cf_dyte_error(404, "Meeting not found"))
    await bot.command(MEETING)
    text = (await channel_post(bot.slack))["text"]
    assert "no longer live" not in text and "may or may not have stopped" in text
    assert calls(cloudflare) == ["POST", "GET"]
    assert stop_audit(logs)["outcome"] == "unconfirmed"


async def test_a_429_is_retried_blindly_after_retry_after(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_json(429, {"success": False}, {"Retry-After": "0"}))
    await bot.command(MEETING)
    assert "Stopped live stream successfully" in (await channel_post(bot.slack))["text"]
    assert calls(cloudflare) == ["POST", "POST"]  # nothing to check: it was not acted on


async def test_a_connect_error_is_retried_blindly(
    start_bot: StartBot, cloudflare: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = FlakyResolver(monkeypatch, "localhost")
    bot = await start_bot(CLOUDFLARE_API_BASE_URL=f"http://localhost:{cloudflare.port}/client/v4")
    resolver.fail = 1  # the stop's first connect never reaches the API
    await bot.command(MEETING)
    assert "Stopped live stream successfully" in (await channel_post(bot.slack))["text"]
    assert resolver.failed == 1
    assert calls(cloudflare) == ["POST"]


# ------------------------------------------------------------------- bounded in time


async def test_a_trickling_answer_ends_the_attempt_at_its_timeout(
    start_bot: StartBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    bot = await start_bot(CLOUDFLARE_TIMEOUT_SECONDS="1")
    body = b'{"success": true, "data": {"message": "slow"}}'.ljust(50)  # 10 s at 0.2 s a byte
    cloudflare.then(
        cf_trickle(body, 0.2, cloudflare.release), cf_dyte_error(500, "status read failed")
    )
    started = time.monotonic()
    await bot.command(MEETING)
    text = (await channel_post(bot.slack, within=8))["text"]
    assert time.monotonic() - started < 3
    assert "answer was lost (timed out after 1 s)" in text
    assert stop_audit(logs)["outcome"] == "unconfirmed"
    assert calls(cloudflare) == ["POST", "GET"]


def test_every_call_ends_before_the_shutdown_grace_does() -> None:
    assert CALL_BUDGET_SECONDS < server.SHUTDOWN_GRACE_SECONDS


@pytest.mark.parametrize("call", ["stop_livestream", "get_active_livestream", "get_meeting"])
async def test_the_call_budget_bounds_every_call_whose_api_never_answers(
    cloudflare: FakeCloudflare, call: str
) -> None:
    cloudflare.default = cloudflare.hang()
    cloudflare.meeting_answers.extend([cloudflare.hang()] * 3)
    client = RealtimeKitClient(
        base_url=cloudflare.base_url, account_id=ACCOUNT, app_id=APP_ID,
        api_token=Secret(CF_TOKEN), timeout=10, budget=0.5,
    )  # fmt: skip
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(getattr(client, call)(MeetingId(MEETING)), 5)
    finally:
        await client.aclose()
    assert result == TimedOut(0.5)
    assert time.monotonic() - started < 1.5  # not the 10 s timeout


async def test_the_call_budget_bounds_the_live_list(cloudflare: FakeCloudflare) -> None:
    cloudflare.list_answers.extend([cloudflare.hang()] * 3)
    client = RealtimeKitClient(
        base_url=cloudflare.base_url, account_id=ACCOUNT, app_id=APP_ID,
        api_token=Secret(CF_TOKEN), timeout=10, budget=0.5,
    )  # fmt: skip
    try:
        result = await asyncio.wait_for(client.list_live(), 5)
    finally:
        await client.aclose()
    assert result == TimedOut(0.5)


# ----------------------------------------------------------------------- shutdown


async def test_a_stop_cut_off_by_the_shutdown_grace_is_audited_and_told(
    env: dict[str, str],
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "SHUTDOWN_GRACE_SECONDS", 0.2)
    url, stop, serving = await serve(env)
    cloudflare.default = cloudflare.hang()
    async with aiohttp.ClientSession() as session:
        bot = RunningBot(url, slack, session)
        await bot.command(MEETING)
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
        stop.set()
        await asyncio.wait_for(serving, 5)
    replies = slack.responses("cmd")
    assert "restarted before Cloudflare answered" in replies[-1]["text"]
    assert_inert(replies)
    line = stop_audit(logs)
    assert (line["decision"], line["outcome"]) == ("allowed", "interrupted")
    assert line["meeting_id"] == MEETING
