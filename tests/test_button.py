"""The Block Kit button door."""

from __future__ import annotations

import time
import uuid

from bot import messages
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error, cf_json
from tests.conftest import (
    ALLOWED,
    MEETING,
    OTHER_ALLOWED,
    STOP_PATH,
    STRANGER,
    LogWatch,
    RunningBot,
)
from tests.fakes import payloads


async def test_allowed_click_stops_and_posts_to_the_channel(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    status, _ = await bot.click(MEETING)
    assert status == 200
    [outcome] = await bot.slack.wait_responses(1, "btn")
    assert outcome["response_type"] == "in_channel"
    assert outcome["replace_original"] is False
    assert f"<@{ALLOWED}>" in outcome["text"] and MEETING in outcome["text"]
    assert [c.path for c in cloudflare.stop_calls] == [STOP_PATH]


async def test_stranger_click_is_denied_privately_without_an_api_call(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    await bot.click(MEETING, user_id=STRANGER)
    [reply] = await bot.slack.wait_responses(1, "btn")
    assert reply["response_type"] == "ephemeral"
    assert "not allowed" in reply["text"]
    assert cloudflare.stop_calls == []


async def test_click_with_a_bad_value_is_refused_without_an_api_call(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    await bot.click("../../accounts")
    [reply] = await bot.slack.wait_responses(1, "btn")
    assert reply["response_type"] == "ephemeral"
    assert "is not a meeting ID" in reply["text"]
    assert cloudflare.stop_calls == []


async def test_click_without_response_url_posts_with_chat_post_message(
    bot: RunningBot, slack: FakeSlack
) -> None:
    await bot.click(MEETING, response=None, channel_id="C0HOME")
    [post] = await slack.wait_calls("chat.postMessage")
    assert post.data["channel"] == "C0HOME"
    assert MEETING in post.data["text"]


async def test_failure_post_carries_a_try_again_button_behind_a_confirm(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_dyte_error(500, "Internal error"))
    cloudflare.then(cf_dyte_error(500, "Internal error"))
    await bot.click(MEETING)
    [outcome] = await bot.slack.wait_responses(1, "btn")
    buttons = [e for b in outcome["blocks"] if b["type"] == "actions" for e in b["elements"]]
    [button] = buttons
    assert button["action_id"] == messages.ACTION_ID
    meeting, shown_at = button["value"].split("|")
    assert meeting == MEETING and abs(int(shown_at) - time.time()) < 60
    assert button["style"] == "danger"
    assert MEETING in button["confirm"]["text"]["text"]


async def test_the_same_button_pressed_twice_calls_once_and_tells_the_second_press_privately(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    value = payloads.button_value(MEETING)
    await bot.click(value, response="first")
    [outcome] = await bot.slack.wait_responses(1, "first")
    assert outcome["response_type"] == "in_channel"
    await bot.click(value, OTHER_ALLOWED, response="again")
    [again] = await bot.slack.wait_responses(1, "again")
    assert again["response_type"] == "ephemeral"
    assert "already stopped" in again["text"] and f"<@{ALLOWED}>" in again["text"]
    assert " s ago" in again["text"]
    assert len(cloudflare.stop_calls) == 1
    assert [r["decision"] for r in logs.audit()] == ["allowed", "already_pressed"]
    # Another button for the same meeting (shown at another time) still acts.
    await bot.click(payloads.button_value(MEETING, time.time() - 5), response="other")
    await bot.slack.wait_responses(1, "other")
    assert len(cloudflare.stop_calls) == 2


async def test_a_press_that_sent_nothing_leaves_its_button_able_to_act(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    cloudflare.then(cf_json(429, {"success": False}, {"Retry-After": "30"}))
    await bot.command(str(uuid.uuid4()), response="paused")  # pauses every call for 30 s
    assert "retry in 30 s" in (await bot.slack.wait_responses(2, "paused"))[-1]["text"]
    value = payloads.button_value(MEETING)
    for name in ("first", "again"):
        await bot.click(value, response=name)
        outcome = (await bot.slack.wait_responses(1, name))[-1]
        assert "not sent" in outcome["text"] and "already" not in outcome["text"]
    presses = [r for r in logs.audit() if r["meeting_id"] == MEETING]
    assert [(r["decision"], r["outcome"]) for r in presses] == [("allowed", "held_back")] * 2
