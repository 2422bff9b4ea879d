"""Waiting for a turn is queueing, not a call: a queued stop keeps its place past the call
budget, and one never sent is told so at shutdown. Every copy shares one API budget and
one pause after a long 429. Driven through the slash command."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from bot import server
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_json, cf_raw, cf_success
from bot.realtimekit import client as client_module
from bot.state import open_state
from tests.conftest import LogWatch, RunningBot, StartBot, channel_post, serve
from tests.fakes.valkey import ValkeyServer, valkey
from tests.test_replicas import copies_waiting

__all__ = ["valkey"]  # the fixture, imported so pytest finds it


def audit_of(logs: LogWatch, meeting: str) -> dict[str, Any]:
    [line] = [r for r in logs.audit() if r["event"] == "stop" and r["meeting_id"] == meeting]
    return line


async def test_a_stop_queued_longer_than_the_call_budget_still_reaches_the_api(
    start_bot: StartBot, cloudflare: FakeCloudflare, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "CALL_BUDGET_SECONDS", 0.5)

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.3)  # the API takes its time: not the test waiting
        return await cf_success()(request)

    cloudflare.default = slow
    bot = await start_bot(CLOUDFLARE_MAX_CONCURRENCY="1")
    meetings = [str(uuid.uuid4()) for _ in range(4)]  # the last waits >= 0.9 s for its turn
    await asyncio.gather(*(bot.command(m, response=m) for m in meetings))
    for meeting in meetings:
        assert (
            "Stopped live stream successfully" in (await channel_post(bot.slack, meeting))["text"]
        )
    assert len(cloudflare.stop_calls) == 4


async def test_a_stop_still_queued_at_shutdown_is_told_it_was_not_sent(
    env: dict[str, str],
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "SHUTDOWN_GRACE_SECONDS", 0.2)
    url, stop, serving = await serve(env, CLOUDFLARE_MAX_CONCURRENCY="1")
    cloudflare.default = cloudflare.hang()
    sent, queued = str(uuid.uuid4()), str(uuid.uuid4())
    async with aiohttp.ClientSession() as session:
        bot = RunningBot(url, slack, session)
        await bot.command(sent, response="sent")
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
        await bot.command(queued, response="queued")
        # Its "Stopping…" note is said once its call is under way: then it waits its turn.
        await slack.recorder.wait_for(lambda _: bool(slack.responses("queued")))
        stop.set()
        await asyncio.wait_for(serving, 5)
    assert len(cloudflare.stop_calls) == 1
    told = slack.responses("queued")[-1]["text"]
    assert "not sent" in told and "nothing was changed" in told and "try again" in told
    assert "may or may not" not in told
    assert audit_of(logs, queued)["outcome"] == "not_sent"
    assert "restarted before Cloudflare answered" in slack.responses("sent")[-1]["text"]
    assert audit_of(logs, sent)["outcome"] == "interrupted"


async def test_copies_sharing_a_store_share_one_api_budget(
    start_bot: StartBot,
    cloudflare: FakeCloudflare,
    valkey: ValkeyServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "REQUESTS_PER_WINDOW", 3)
    monkeypatch.setattr(client_module, "WINDOW_SECONDS", 60.0)
    copies = [await start_bot(STATE_URL=valkey.url) for _ in range(2)]
    for n in range(4):
        meeting = str(uuid.uuid4())
        await copies[n % 2].command(meeting, response=meeting)
        await channel_post(copies[n % 2].slack, meeting)
    # Every request counts (stops and the name reads beside them), in either copy.
    assert len(cloudflare.recorder.received) == 3


async def test_a_long_429_pauses_every_copy_until_its_retry_after(
    start_bot: StartBot, cloudflare: FakeCloudflare, valkey: ValkeyServer, logs: LogWatch
) -> None:
    first, second = [await start_bot(STATE_URL=valkey.url) for _ in range(2)]
    cloudflare.then(cf_json(429, {"success": False}, {"Retry-After": "30"}))
    await first.command(str(uuid.uuid4()), response="first")
    assert "retry in 30 s" in (await channel_post(first.slack, "first"))["text"]
    calls = len(cloudflare.recorder.received)
    await second.command(str(uuid.uuid4()), response="second")
    told = (await channel_post(second.slack, "second"))["text"]
    assert "not sent: the bot is holding calls to Cloudflare back" in told
    assert "rate limited by Cloudflare" not in told  # Cloudflare was not asked
    assert len(cloudflare.recorder.received) == calls  # the API was not asked again
    [held] = [r for r in logs.audit() if r["event"] == "stop" and r["outcome"] == "held_back"]
    assert held["api_status"] is None


async def test_a_retry_after_of_a_day_pauses_the_copies_ten_minutes_at_most(
    start_bot: StartBot, cloudflare: FakeCloudflare, valkey: ValkeyServer
) -> None:
    bot = await start_bot(STATE_URL=valkey.url)
    cloudflare.then(cf_json(429, {"success": False}, {"Retry-After": "86400"}))
    await bot.command(str(uuid.uuid4()), response="first")
    await channel_post(bot.slack, "first")
    raw = Redis.from_url(valkey.url)
    try:
        [paused] = [k async for k in raw.scan_iter("*api-paused*")]
        assert 0 < await raw.pttl(paused) <= client_module.MAX_PAUSE_SECONDS * 1000
    finally:
        await raw.aclose()


async def test_a_stop_a_copy_never_sent_is_made_by_the_copy_waiting_for_it(
    env: dict[str, str],
    start_bot: StartBot,
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    logs: LogWatch,
    valkey: ValkeyServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "SHUTDOWN_GRACE_SECONDS", 0.2)
    url, stop, serving = await serve(env, CLOUDFLARE_MAX_CONCURRENCY="1", STATE_URL=valkey.url)
    other = await start_bot(STATE_URL=valkey.url, CLOUDFLARE_TIMEOUT_SECONDS="10")
    answer = asyncio.Event()
    cloudflare.default = cloudflare.gated(answer, cf_success())
    sent, queued = str(uuid.uuid4()), str(uuid.uuid4())
    async with aiohttp.ClientSession() as session:
        bot = RunningBot(url, slack, session)
        await bot.command(sent, response="sent")
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
        await bot.command(queued, response="queued")  # waits for the one slot
        await other.command(queued, response="other")  # waits for the copy holding it
        await copies_waiting(valkey, queued)
        stop.set()  # the first copy shuts down: its queued stop is never sent
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 2, 5)
        answer.set()
        await asyncio.wait_for(serving, 5)
    assert "Stopped live stream successfully" in (await channel_post(other.slack, "other"))["text"]
    assert "not sent" in slack.responses("queued")[-1]["text"]
    outcomes = sorted(
        r["outcome"] for r in logs.audit() if r["event"] == "stop" and r["meeting_id"] == queued
    )
    assert outcomes == ["not_sent", "stopped"]


async def test_a_lost_answer_whose_check_cannot_be_sent_at_shutdown_says_what_is_known(
    env: dict[str, str],
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server, "SHUTDOWN_GRACE_SECONDS", 2.0)
    url, stop, serving = await serve(env)
    answer = asyncio.Event()
    cloudflare.then(cloudflare.gated(answer, cf_raw(504, b"")))
    meeting = str(uuid.uuid4())
    async with aiohttp.ClientSession() as session:
        bot = RunningBot(url, slack, session)
        await bot.command(meeting, response="cmd")
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
        stop.set()  # shutting down while the stop is in flight; then its answer is lost
        await logs.wait_for(lambda w: any("shutting down" in line for line in w.lines()))
        answer.set()
        await asyncio.wait_for(serving, 5)
    told = slack.responses("cmd")[-1]["text"]
    assert "answer was lost (HTTP 504" in told and "may or may not have stopped" in told
    assert "not sent" not in told  # the stop was sent: only the check was not
    assert audit_of(logs, meeting)["outcome"] == "unconfirmed"


async def test_while_the_store_is_down_each_copy_paces_its_own_calls(
    valkey: ValkeyServer,
) -> None:
    state = await open_state(valkey.url, prefix="test:", call_timeout=0.3, probe_every=0.05)
    try:
        assert await state.take_call(1, 60) == (None, "shared")
        wait, where = await state.take_call(1, 60)
        assert wait is not None and 59 < wait <= 60 and where == "shared"
        await valkey.kill()
        assert await state.take_call(1, 60) == (None, "local")
        wait, where = await state.take_call(1, 60)
        assert wait is not None and 59 < wait <= 60 and where == "local"
    finally:
        await state.aclose()
