"""The slash command door, driven by signed HTTP requests to /slack/events."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from tests.conftest import ALLOWED, CF_TOKEN, MEETING, STOP_PATH, STRANGER, RunningBot
from tests.fakes import payloads

LATER = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
# Slack's own markup: mentions, channels, broadcasts, dates and links. Any other text
# between < and > is read as a link or a mention, so it must reach Slack escaped.
SLACK_MARKUP = re.compile(
    r"<(?:[@#][A-Z0-9]+|!(?:here|channel|everyone|subteam\^|date\^)[^<>]*|(?:https?|mailto):[^<>]+)>"
)


def assert_inert(sent: Any) -> None:
    """No mrkdwn text (nor fallback text) in `sent` has a raw <, > or & outside Slack's
    own markup."""
    if isinstance(sent, list):
        for item in sent:
            assert_inert(item)
    elif isinstance(sent, dict):
        text = sent.get("text")
        if isinstance(text, str) and sent.get("type") != "plain_text":
            assert not re.search(r"[<>]|&(?!amp;|lt;|gt;)", SLACK_MARKUP.sub("", text)), text
        for value in sent.values():
            assert_inert(value)


async def assert_no_stop_was_started(bot: RunningBot, cloudflare: FakeCloudflare) -> None:
    """A stop started in the background lands after the ack or the reply: stop another
    meeting and wait for its outcome, then its call must be the only one."""
    await bot.command(LATER, response="later")
    await bot.slack.wait_responses(2, "later")
    assert [c.path for c in cloudflare.stop_calls] == [STOP_PATH.replace(MEETING, LATER)]


async def test_allowed_user_stops_the_stream_and_the_channel_is_told(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    status, _ = await bot.command(MEETING)
    assert status == 200

    stopping, outcome = await bot.slack.wait_responses(2, "cmd")
    assert stopping["response_type"] == "ephemeral"
    assert "Stopping" in stopping["text"]
    assert outcome["response_type"] == "in_channel"
    assert f"<@{ALLOWED}>" in outcome["text"]
    assert MEETING in outcome["text"]
    assert "Stopped live stream successfully" in outcome["text"]

    [call] = cloudflare.stop_calls
    assert call.method == "POST"
    assert call.path == STOP_PATH
    assert call.headers["Authorization"] == f"Bearer {CF_TOKEN}"
    assert call.body == b""


async def test_meeting_id_is_trimmed_and_lowercased(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    await bot.command(f"  {MEETING.upper()}\t ")
    await bot.slack.wait_responses(2, "cmd")
    assert [c.path for c in cloudflare.stop_calls] == [STOP_PATH]


@pytest.mark.parametrize("text", ["help", "HELP", " help "])
async def test_help_shows_usage_to_the_caller_only(
    bot: RunningBot, cloudflare: FakeCloudflare, text: str
) -> None:
    status, body = await bot.command(text)
    assert status == 200
    assert "Usage" in body
    assert "in_channel" not in body
    await assert_no_stop_was_started(bot, cloudflare)
    assert bot.slack.responses("cmd") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not-a-uuid", "is not a meeting ID"),
        (f"{MEETING} {MEETING}", "Expected exactly one meeting ID, got 2 words"),
        (f"{MEETING}/../../other", "is not a meeting ID"),
        (f"..%2f{MEETING}", "is not a meeting ID"),
        (f"{MEETING}%2fstop", "is not a meeting ID"),
        (MEETING[:-1], "is not a meeting ID"),
        (MEETING.replace("-", ""), "is not a meeting ID"),
        (f"{MEETING} please", "got 2 words"),
        ("<!channel>", "&lt;!channel&gt;"),
    ],
)
async def test_anything_but_one_uuid_is_refused_privately_without_an_api_call(
    bot: RunningBot, cloudflare: FakeCloudflare, text: str, expected: str
) -> None:
    status, _ = await bot.command(text)
    assert status == 200
    [reply] = await bot.slack.wait_responses(1, "cmd")
    assert reply["response_type"] == "ephemeral"
    assert expected in reply["text"]
    assert "Usage" in reply["text"]
    await assert_no_stop_was_started(bot, cloudflare)


async def test_stranger_is_denied_privately_without_calling_the_api(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    await bot.command(MEETING, user_id=STRANGER)
    [reply] = await bot.slack.wait_responses(1, "cmd")
    assert reply["response_type"] == "ephemeral"
    assert "not allowed" in reply["text"]
    await assert_no_stop_was_started(bot, cloudflare)


async def test_forged_signature_is_rejected_with_401_and_no_api_call(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    body = payloads.form_body(payloads.slash_command(MEETING, ALLOWED, bot.slack.response_url()))
    status, _ = await bot.post(body, "application/x-www-form-urlencoded", secret="not-the-secret")
    assert status == 401
    stale = int(time.time()) - 60 * 10
    status, _ = await bot.post(body, "application/x-www-form-urlencoded", timestamp=stale)
    assert status == 401
    status, _ = await bot.post(
        body, "application/x-www-form-urlencoded", headers={"X-Slack-Signature": "v0=00"}
    )
    assert status == 401
    assert cloudflare.stop_calls == []
    assert bot.slack.responses() == []


async def test_no_text_the_help_and_usage_paths_send_has_raw_markup(bot: RunningBot) -> None:
    _, body = await bot.command("help")
    runs = [
        ("list", ALLOWED, 1),
        ("not-a-uuid <!channel> & <https://x.test|x>", ALLOWED, 1),
        ("status nope", ALLOWED, 1),
        (MEETING, ALLOWED, 2),
        (MEETING, STRANGER, 1),
    ]
    for n, (text, user_id, replies) in enumerate(runs):
        await bot.command(text, user_id, response=str(n))
        await bot.slack.wait_responses(replies, str(n))
    assert_inert([json.loads(body), *(r.data for r in bot.slack.recorder.received)])
