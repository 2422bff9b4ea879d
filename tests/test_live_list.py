"""`/stop-livestream list` (or no text): what is live, newest first, 20 rows a page,
each with a Stop button; against the stateful RealtimeKit stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import web

from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_json, cf_v4_error
from tests.conftest import ALLOWED, OTHER_ALLOWED, STRANGER, LogWatch, RunningBot
from tests.fakes import payloads, picker
from tests.fakes.livekit import action_buttons, all_buttons, meeting, rows, started


def fill(rk: StandInRealtimeKit, count: int) -> None:
    """`count` live streams; stream n started n minutes after stream n-1."""
    for n in range(1, count + 1):
        rk.add(meeting(n), f"Stream {n}", f"Meeting {n}", started(100 - n))


async def page_press(bot: RunningBot, value: str, response: str) -> tuple[int, str]:
    body = payloads.action_body(picker.page_click(value, ALLOWED, bot.slack.response_url(response)))
    return await bot.post(body, "application/x-www-form-urlencoded")


async def test_25_live_streams_show_20_newest_first_and_the_next_5_on_a_press(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    fill(rk, 25)
    await rk_bot.command("list")
    [reply] = await slack.wait_responses(1, "cmd")
    assert reply["response_type"] == "ephemeral"
    assert "25 livestreams live" in reply["text"] and "showing 1 to 20 of 25" in reply["text"]
    shown = rows(reply)
    assert len(shown) == 20
    assert "*Stream 25*" in shown[0]["text"]["text"] and "*Stream 6*" in shown[19]["text"]["text"]
    [next_page] = action_buttons(reply)
    assert (next_page["action_id"], next_page["value"]) == ("live_list_page", "20")
    assert next_page["text"]["text"] == "Next 5"
    # The API is read in pages of 10 (the stand-in's most), every page followed.
    assert [r.data["page_no"] for r in rk.list_calls()] == ["1", "2", "3"]

    status, _ = await page_press(rk_bot, next_page["value"], "page")
    assert status == 200
    [second] = await slack.wait_responses(1, "page")
    assert second["replace_original"] is True and second["response_type"] == "ephemeral"
    assert [r["text"]["text"].split("\n")[0] for r in rows(second)] == [
        f"*Stream {n}*" for n in (5, 4, 3, 2, 1)
    ]
    assert "showing 21 to 25 of 25" in second["text"]
    assert action_buttons(second) == []  # no page after the last
    assert len(rk.list_calls()) == 6  # the press read the list again


async def test_no_text_lists_too(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    fill(rk, 2)
    status, body = await rk_bot.command("")
    assert status == 200 and body == ""  # acked at once; the list follows privately
    [reply] = await slack.wait_responses(1, "cmd")
    assert "2 livestreams live" in reply["text"]


@pytest.mark.parametrize("shape", ["list", "object"])
async def test_both_documented_list_shapes_are_read(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, shape: Any
) -> None:
    rk.shape = shape
    fill(rk, 3)
    await rk_bot.command("list")
    [reply] = await slack.wait_responses(1, "cmd")
    assert [r["text"]["text"].split("\n")[0] for r in rows(reply)] == [
        "*Stream 3*",
        "*Stream 2*",
        "*Stream 1*",
    ]
    # "object" carries one livestream per page (data is the livestream itself).
    assert len(rk.list_calls()) == (1 if shape == "list" else 3)


async def test_a_row_names_stream_meeting_id_and_age_with_a_confirmed_stop_button(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    live = meeting(7)
    rk.add(live, "Keynote <!here>", "Town hall & Q&A", started(65.5))
    await rk_bot.command("list")
    [reply] = await slack.wait_responses(1, "cmd")
    [row] = rows(reply)
    text = row["text"]["text"]
    assert "*Keynote &lt;!here&gt;*" in text and "<!here>" not in text
    assert "*Town hall &amp; Q&amp;A*" in text and f"`{live}`" in text
    assert "live for 1 h 05 min" in text
    button = row["accessory"]
    assert (button["action_id"], button["style"]) == ("stop_livestream", "danger")
    shown_id, shown_at = button["value"].split("|")
    assert shown_id == live and abs(int(shown_at) - time.time()) < 60
    confirm = button["confirm"]["text"]["text"]
    assert "Keynote &lt;!here&gt;" in confirm and "Town hall &amp; Q&amp;A" in confirm
    assert live in confirm

    # Pressing it is an ordinary stop, which names what it stopped.
    await rk_bot.click(button["value"], OTHER_ALLOWED)
    [outcome] = await slack.wait_responses(1, "btn")
    assert outcome["response_type"] == "in_channel"
    assert "stopped the livestream *Keynote &lt;!here&gt;*" in outcome["text"]
    assert "meeting *Town hall &amp; Q&amp;A*" in outcome["text"]
    assert live not in rk.live


async def test_a_title_that_cannot_be_read_leaves_the_meeting_id_alone(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    rk.add(meeting(1), "Keynote", "Hidden title", started(5))
    rk.meeting_answers.extend([cf_v4_error(403, 10000, "Authentication error")])
    await rk_bot.command("list")
    [reply] = await slack.wait_responses(1, "cmd")
    [row] = rows(reply)
    assert row["text"]["text"].split("\n")[1] == f"Meeting `{meeting(1)}`"
    assert "Hidden title" not in json.dumps(reply)


async def test_titles_are_read_concurrently_a_few_at_a_time(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    fill(rk, 20)
    in_flight = 0
    most = 0
    opened = asyncio.Event()  # the title reads answer once 4 of them are waiting

    async def slow_title(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await opened.wait()
        in_flight -= 1
        return web.json_response({"success": True, "data": {"title": "T"}})

    rk.meeting_answers.extend([slow_title] * 20)
    await rk_bot.command("list")
    await rk.recorder.wait_for(lambda _: len(rk.meeting_calls()) >= 4)
    opened.set()
    [reply] = await slack.wait_responses(1, "cmd")
    assert len(rows(reply)) == 20 and len(rk.meeting_calls()) == 20
    assert 1 < most <= 4  # concurrent, and bounded (service.reads.TITLE_READS)


async def test_nothing_live_says_so(rk_bot: RunningBot, slack: FakeSlack) -> None:
    await rk_bot.command("list")
    [reply] = await slack.wait_responses(1, "cmd")
    assert "Nothing is live right now" in reply["text"] and rows(reply) == []


async def test_a_stranger_is_denied_without_any_api_call(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    fill(rk, 3)
    await rk_bot.command("list", STRANGER)
    [reply] = await slack.wait_responses(1, "cmd")
    assert reply["response_type"] == "ephemeral" and "not allowed" in reply["text"]
    assert "Stream" not in json.dumps(reply)
    assert rk.recorder.received == []
    [line] = logs.audit()
    assert (line["event"], line["decision"], line["reason"]) == ("list", "denied", "not_allowed")


async def test_the_list_is_audited_once(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    fill(rk, 3)
    await rk_bot.command("list")
    await slack.wait_responses(1, "cmd")
    [line] = logs.audit()
    assert (line["event"], line["decision"], line["outcome"]) == ("list", "allowed", "listed")
    assert (line["door"], line["count"], line["user_id"]) == ("command", 3, ALLOWED)


async def test_an_api_failure_gives_the_reason_and_the_ref(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    rk.list_answers.append(cf_v4_error(401, 10000, "Authentication error"))
    await rk_bot.command("list")
    [reply] = await slack.wait_responses(1, "cmd")
    [line] = logs.audit()
    assert "Could not read what is live" in reply["text"]
    assert "the API answered: Authentication error (HTTP 401)" in reply["text"]
    assert f"ref: {line['request_id']}" in reply["text"]
    assert line["outcome"] == "api_error" and line["api_status"] == 401


async def test_a_short_429_is_waited_out_and_a_long_one_explained(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    fill(rk, 1)
    rate_limited = {"success": False, "error": {"code": 429, "message": "Too many requests"}}
    rk.list_answers.append(cf_json(429, rate_limited, {"Retry-After": "0"}))
    await rk_bot.command("list", response="short")
    [reply] = await slack.wait_responses(1, "short")
    assert "1 livestream live" in reply["text"]

    rk.list_answers.append(cf_json(429, rate_limited, {"Retry-After": "60"}))
    await rk_bot.command("list", response="long")
    [reply] = await slack.wait_responses(1, "long")
    assert "rate limited by Cloudflare; retry in 60 s" in reply["text"]


async def test_help_lists_every_form(rk_bot: RunningBot, rk: StandInRealtimeKit) -> None:
    _, body = await rk_bot.command("help")
    for form in ("list", "status &lt;meeting-id&gt;", "all", "&lt;meeting-id&gt;", "help"):
        assert f"/stop-livestream {form}`" in body, form
    assert rk.recorder.received == []


async def test_the_longest_names_stay_within_slacks_limits(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    long_name = "<!channel> & " * 300  # 3,900 characters, each & and < escaped longer
    for n in range(1, 26):
        rk.add(meeting(n), long_name + str(n), "&" * 3500, started(n))
    await rk_bot.command("list")
    [reply] = await slack.wait_responses(1, "cmd")
    assert len(reply["blocks"]) <= 50
    assert len(reply["text"]) <= 4000 + 40
    for block in reply["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    for button in all_buttons(reply):
        assert len(button["text"]["text"]) <= 75
        if "confirm" in button:
            assert len(button["confirm"]["text"]["text"]) <= 300
            assert len(button["confirm"]["title"]["text"]) <= 100
    assert "<!channel>" not in json.dumps(reply)
