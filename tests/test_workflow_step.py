"""The Workflow Builder custom step door, delivered as function_executed events."""

from __future__ import annotations

import json

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error
from tests.conftest import ALLOWED, MEETING, STOP_PATH, STRANGER, RunningBot
from tests.fakes import payloads


async def test_step_stops_completes_with_outputs_and_posts_to_the_channel(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    status, _ = await bot.step(
        {
            "meeting_id": MEETING.upper(),
            "user_context": payloads.user_context(ALLOWED),
            "channel_id": "C0WF",
        }
    )
    assert status == 200
    [done] = await slack.wait_calls("functions.completeSuccess")
    assert done.data["function_execution_id"] == "Fx0001"
    outputs = (
        json.loads(done.data["outputs"])
        if isinstance(done.data["outputs"], str)
        else done.data["outputs"]
    )
    assert outputs["meeting_id"] == MEETING
    assert "Stopped live stream successfully" in outputs["message"]
    [post] = await slack.wait_calls("chat.postMessage")
    assert post.data["channel"] == "C0WF"
    assert f"<@{ALLOWED}>" in post.data["text"]
    # The step acts with the workflow's own token, which Slack hands us per execution.
    assert post.headers["Authorization"] == "Bearer xwfp-workflow-token-hunter2"
    assert [c.path for c in cloudflare.stop_calls] == [STOP_PATH]
    assert slack.calls("functions.completeError") == []


async def test_step_without_channel_posts_nothing(bot: RunningBot, slack: FakeSlack) -> None:
    await bot.step({"meeting_id": MEETING, "user_context": payloads.user_context(ALLOWED)})
    await slack.wait_calls("functions.completeSuccess")
    assert slack.calls("chat.postMessage") == []


async def test_step_for_a_stranger_fails_without_an_api_call(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    await bot.step(
        {
            "meeting_id": MEETING,
            "user_context": payloads.user_context(STRANGER),
            "channel_id": "C0WF",
        }
    )
    [failed] = await slack.wait_calls("functions.completeError")
    assert "not allowed" in failed.data["error"]
    assert cloudflare.stop_calls == []
    assert slack.calls("chat.postMessage") == []


async def test_step_with_a_bad_meeting_id_fails_without_an_api_call(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    await bot.step({"meeting_id": "abc/../x", "user_context": payloads.user_context(ALLOWED)})
    [failed] = await slack.wait_calls("functions.completeError")
    assert "is not a meeting ID" in failed.data["error"]
    assert cloudflare.stop_calls == []


async def test_step_fails_with_the_api_message_and_tells_the_channel(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_dyte_error(404, "Meeting not found"))
    await bot.step(
        {
            "meeting_id": MEETING,
            "user_context": payloads.user_context(ALLOWED),
            "channel_id": "C0WF",
        }
    )
    [failed] = await slack.wait_calls("functions.completeError")
    assert "Meeting not found (HTTP 404)" in failed.data["error"]
    [post] = await slack.wait_calls("chat.postMessage")
    assert "Meeting not found" in post.data["text"]
    assert slack.calls("functions.completeSuccess") == []


async def test_step_for_a_meeting_not_live_completes_and_says_there_was_nothing_to_stop(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_dyte_error(404, "No active livestream found for this meeting"))
    await bot.step({"meeting_id": MEETING, "user_context": payloads.user_context(ALLOWED)})
    [done] = await slack.wait_calls("functions.completeSuccess")
    assert "nothing to stop" in json.loads(done.data["outputs"])["message"]
    assert slack.calls("functions.completeError") == []
