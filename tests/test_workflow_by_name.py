"""The workflow step's `meeting_name`: used when `meeting_id` is empty; exactly one live
livestream whose name or meeting title it is gets stopped, otherwise the step fails
naming the candidates."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import web

from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import StandInSlack as FakeSlack
from bot.service import live as finding
from tests.conftest import ALLOWED, STRANGER, LogWatch, RunningBot
from tests.fakes import payloads
from tests.fakes.livekit import meeting, started


@pytest.fixture
def rk(rk: StandInRealtimeKit) -> StandInRealtimeKit:
    """conftest's stand-in with this module's live streams."""
    rk.add(meeting(1), "Keynote", "Town hall", started(30))
    rk.add(meeting(2), "Product demo", "Launch week", started(20))
    return rk


@pytest.fixture
def short_title_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search waits a while for the titles it lacks, then goes on without them: tests
    that wait that while out get a short one, once the real one is seen to leave a
    second of Slack's 3 s for the rest."""
    assert finding.SEARCH_TITLES_WAIT_SECONDS <= 2.0
    monkeypatch.setattr(finding, "SEARCH_TITLES_WAIT_SECONDS", 0.3)


def by_name(name: str, user_id: str = ALLOWED) -> dict[str, Any]:
    return {
        "meeting_id": "",
        "meeting_name": name,
        "user_context": payloads.user_context(user_id),
        "channel_id": "C0WF",
    }


async def test_one_match_by_title_ignoring_case_is_stopped(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    await rk_bot.step(by_name("  town HALL "))
    [done] = await slack.wait_calls("functions.completeSuccess")
    outputs = done.data["outputs"]
    outputs = json.loads(outputs) if isinstance(outputs, str) else outputs
    assert outputs["meeting_id"] == meeting(1)
    assert "*Keynote* of meeting *Town hall*" in outputs["message"]
    assert rk.live.keys() == {meeting(2)}
    [post] = await slack.wait_calls("chat.postMessage")
    assert "*Keynote* of meeting *Town hall*" in post.data["text"]
    events = [(line["event"], line.get("outcome")) for line in logs.audit()]
    assert events == [("find", "found"), ("stop", "stopped")]


async def test_one_match_by_stream_name_is_stopped(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    await rk_bot.step(by_name("product demo"))
    await slack.wait_calls("functions.completeSuccess")
    assert rk.live.keys() == {meeting(1)}


async def test_no_match_fails_listing_what_is_live(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    await rk_bot.step(by_name("Town"))  # equal, not a part of it
    [failed] = await slack.wait_calls("functions.completeError")
    error = failed.data["error"]
    assert "No live livestream or meeting is called “Town”" in error
    assert f"Keynote — Town hall (meeting {meeting(1)})" in error
    assert f"Product demo — Launch week (meeting {meeting(2)})" in error
    assert rk.live.keys() == {meeting(1), meeting(2)}
    assert slack.calls("functions.completeSuccess") == []


async def test_two_matches_fail_listing_both_and_stop_nothing(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    rk.add(meeting(3), "Town Hall", "Overflow room", started(10))
    await rk_bot.step(by_name("town hall"))
    [failed] = await slack.wait_calls("functions.completeError")
    error = failed.data["error"]
    assert "2 live livestreams are called “town hall”" in error
    assert meeting(1) in error and meeting(3) in error and meeting(2) not in error
    assert len(rk.live) == 3
    assert not any(r.path.endswith("/stop") for r in rk.recorder.received)


async def test_at_most_10_candidates_are_named(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, short_title_wait: None
) -> None:
    for n in range(3, 15):
        rk.add(meeting(n), f"Room {n}", None, started(n))
    await rk_bot.step(by_name("nothing like it"))
    [failed] = await slack.wait_calls("functions.completeError")
    error = failed.data["error"]
    assert error.count("(meeting ") == 10 and "and 4 more" in error


async def test_a_stranger_naming_a_meeting_fails_without_any_api_call(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    await rk_bot.step(by_name("Town hall", STRANGER))
    [failed] = await slack.wait_calls("functions.completeError")
    assert "not allowed" in failed.data["error"]
    assert rk.recorder.received == []


async def test_a_meeting_id_wins_over_a_meeting_name(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    await rk_bot.step({**by_name("Town hall"), "meeting_id": meeting(2)})
    await slack.wait_calls("functions.completeSuccess")
    assert rk.live.keys() == {meeting(1)}


async def test_a_redelivered_step_by_name_neither_searches_again_nor_fails(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    await rk_bot.step(by_name("Town hall"), execution_id="Fx1", event_id="Ev1")
    await slack.wait_calls("functions.completeSuccess")
    # Slack delivers the same execution again, after the stream was stopped.
    await rk_bot.step(
        by_name("Town hall"), execution_id="Fx1", event_id="Ev1",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )  # fmt: skip
    await logs.wait_for(lambda w: any("ignored a redelivery" in line for line in w.lines()))
    assert not slack.calls("functions.completeError")
    assert [line["event"] for line in logs.audit()] == ["find", "stop"]


async def test_a_search_by_name_does_not_wait_for_every_title(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, short_title_wait: None
) -> None:
    for n in range(3, 43):
        rk.add(meeting(n), f"Room {n}", f"Title {n}", started(n))
    never = asyncio.Event()

    async def hanging(_: web.Request) -> web.StreamResponse:
        await never.wait()
        raise AssertionError("unreachable")

    rk.meeting_answers.extend([hanging] * 50)
    sent = time.monotonic()
    await rk_bot.step(by_name("room 7"))
    [done] = await slack.wait_calls("functions.completeSuccess", within=3.0)
    assert time.monotonic() - sent < 3.0  # within Slack's patience, titles or not
    assert meeting(7) not in rk.live and len(rk.live) == 41
    assert meeting(7) in json.dumps(done.data["outputs"])
    never.set()


async def test_a_search_that_could_not_read_every_title_in_time_says_so(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, short_title_wait: None
) -> None:
    never = asyncio.Event()

    async def hanging(_: web.Request) -> web.StreamResponse:
        await never.wait()
        raise AssertionError("unreachable")

    rk.meeting_answers.extend([hanging] * 2)
    await rk_bot.step(by_name("Town hall"))
    [failed] = await slack.wait_calls("functions.completeError", within=3.0)
    assert "the titles of 2 meetings are still being read" in failed.data["error"]
    assert rk.live.keys() == {meeting(1), meeting(2)}
    never.set()
