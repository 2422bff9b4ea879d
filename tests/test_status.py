"""`/stop-livestream status <id>` and REQUIRE_CONFIRMATION=true."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error, cf_json, cf_raw
from tests.conftest import (
    ALLOWED,
    MEETING,
    OTHER_ALLOWED,
    STOP_PATH,
    STRANGER,
    LogWatch,
    RunningBot,
    StartBot,
)
from tests.fakes import payloads
from tests.fakes.livekit import action_buttons as buttons

STATUS_PATH = STOP_PATH.removesuffix("/stop")
STREAM_KEY = "live_sk_0123456789abcdef-DO-NOT-SHOW"
INGEST = "rtmps://ingest.example.invalid:443/live"


def live(status: str = "LIVE") -> Any:
    return cf_json(
        200,
        {
            "success": True,
            "data": {
                "id": "ls-1",
                "name": "All-hands <!here>",
                "status": status,
                "playback_url": "https://play.example.com/ls-1.m3u8",
                "stream_key": STREAM_KEY,
                "ingest_server": INGEST,
                "created_at": "2026-11-28T09:00:00Z",
                "updated_at": "2026-11-28T09:05:00Z",
            },
        },
    )


async def test_status_card_shows_what_is_live_and_a_confirmed_stop_button(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    cloudflare.then(live())
    await bot.command(f"status {MEETING.upper()}")
    [card] = await slack.wait_responses(1, "cmd")
    assert card["response_type"] == "ephemeral"
    text = card["text"]
    assert "LIVE" in text and "All-hands &lt;!here&gt;" in text
    assert "2026-11-28T09:00:00Z" in text and "2026-11-28T09:05:00Z" in text
    assert "https://play.example.com/ls-1.m3u8" in text
    [button] = buttons(card)
    assert button["style"] == "danger" and button["action_id"] == "stop_livestream"
    assert MEETING in button["confirm"]["text"]["text"]
    assert button["value"].startswith(MEETING + "|")
    # The status read, and the meeting's title (for the card): reads only.
    calls = {(c.method, c.path) for c in cloudflare.recorder.received}
    assert calls == {("GET", STATUS_PATH), ("GET", STATUS_PATH.removesuffix("/active-livestream"))}
    assert cloudflare.stop_calls == []


async def test_stream_credentials_never_reach_slack(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    cloudflare.then(live())
    await bot.command(f"status {MEETING}")
    await slack.wait_responses(1, "cmd")
    sent = "\n".join(r.body.decode() for r in slack.recorder.received)
    assert (
        STREAM_KEY not in sent
        and "live_sk_" not in sent
        and INGEST not in sent
        and "rtmps" not in sent
    )


@pytest.mark.parametrize("state", ["IDLE", "ERRORED", "INVOKED"])
async def test_no_button_unless_live(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack, state: str
) -> None:
    cloudflare.then(live(state))
    await bot.command(f"status {MEETING}")
    [card] = await slack.wait_responses(1, "cmd")
    assert state in card["text"]
    assert buttons(card) == []


@pytest.mark.parametrize(
    "answer",
    [
        cf_dyte_error(404, "No active livestream found"),
        cf_json(200, {"success": True, "data": None}),
    ],
)
async def test_no_active_livestream_is_said_plainly(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack, answer: Any
) -> None:
    cloudflare.then(answer)
    await bot.command(f"status {MEETING}")
    [card] = await slack.wait_responses(1, "cmd")
    assert "no active livestream" in card["text"]
    assert buttons(card) == []


async def test_status_errors_are_relayed_like_stops(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    cloudflare.then(cf_raw(401, b"<html>denied</html>"))
    await bot.command(f"status {MEETING}")
    [card] = await slack.wait_responses(1, "cmd")
    assert "unexpected response from the API (HTTP 401)" in card["text"]
    assert "<html>" not in card["text"] and "ref:" in card["text"]


async def test_status_is_for_allowed_users_only(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack, logs: LogWatch
) -> None:
    await bot.command(f"status {MEETING}", STRANGER)
    [reply] = await slack.wait_responses(1, "cmd")
    assert "not allowed" in reply["text"]
    assert cloudflare.recorder.received == []
    [record] = logs.audit()
    assert (record["event"], record["decision"]) == ("status", "denied")


async def test_status_needs_a_meeting_id(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    await bot.command("status")
    [reply] = await slack.wait_responses(1, "cmd")
    assert "No meeting ID given" in reply["text"]
    assert cloudflare.recorder.received == []


async def test_pressing_the_card_button_does_the_normal_stop(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    cloudflare.then(live())
    await bot.command(f"status {MEETING}")
    [card] = await slack.wait_responses(1, "cmd")
    [button] = buttons(card)
    await bot.click(button["value"], OTHER_ALLOWED)
    [outcome] = await slack.wait_responses(1, "btn")
    assert outcome["response_type"] == "in_channel"
    assert f"<@{OTHER_ALLOWED}>" in outcome["text"]
    assert [c.path for c in cloudflare.stop_calls] == [STOP_PATH]


async def test_an_expired_card_button_stops_nothing(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    shown = int(time.time()) - 301
    await bot.click(f"{MEETING}|{shown}")
    [reply] = await slack.wait_responses(1, "btn")
    assert reply["response_type"] == "ephemeral"
    assert "expired" in reply["text"]
    assert cloudflare.stop_calls == []


async def test_a_stranger_cannot_press_the_card_button(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    await bot.click(f"{MEETING}|{int(time.time())}", STRANGER)
    [reply] = await slack.wait_responses(1, "btn")
    assert "not allowed" in reply["text"]
    assert cloudflare.stop_calls == []


async def test_help_lists_both_forms(bot: RunningBot) -> None:
    _, body = await bot.command("help")
    assert (
        "/stop-livestream &lt;meeting-id&gt;" in body
        and "/stop-livestream status &lt;meeting-id&gt;" in body
    )


async def test_with_confirmation_the_command_shows_the_card_instead_of_stopping(
    start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    bot = await start_bot(REQUIRE_CONFIRMATION="true")
    cloudflare.then(live())
    await bot.command(MEETING)
    [card] = await slack.wait_responses(1, "cmd")
    assert card["response_type"] == "ephemeral"
    assert "Press the button to stop it" in card["text"] and "expires in 5 minutes" in card["text"]
    assert cloudflare.stop_calls == []
    [button] = buttons(card)
    await bot.click(button["value"], ALLOWED)
    [outcome] = await slack.wait_responses(1, "btn")
    assert outcome["response_type"] == "in_channel"
    assert len(cloudflare.stop_calls) == 1


async def test_with_confirmation_a_failed_status_read_still_offers_stop_anyway(
    start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    bot = await start_bot(REQUIRE_CONFIRMATION="true")
    cloudflare.then(cf_raw(502, b""), cf_raw(502, b""), cf_raw(502, b""))
    await bot.command(MEETING)
    [card] = await slack.wait_responses(1, "cmd")
    assert "Could not read its status" in card["text"]
    [button] = buttons(card)
    assert button["text"]["text"] == "Stop anyway"


async def test_with_confirmation_buttons_and_steps_still_act_directly(
    start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    bot = await start_bot(REQUIRE_CONFIRMATION="true")
    await bot.click(MEETING)
    await slack.wait_responses(1, "btn")
    await bot.step({"meeting_id": MEETING, "user_context": payloads.user_context(ALLOWED)})
    await slack.wait_calls("functions.completeSuccess")
    assert len(cloudflare.stop_calls) == 2
