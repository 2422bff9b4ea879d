"""The Block Kit button door."""

from __future__ import annotations

import time

from bot import messages
from tests.conftest import ALLOWED, MEETING, STOP_PATH, STRANGER, RunningBot
from tests.fakes.servers import FakeCloudflare, FakeSlack, cf_dyte_error


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
