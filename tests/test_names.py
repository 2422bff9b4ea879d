"""Names instead of UUIDs: every door's outcome names the livestream and its meeting
when they can be read quickly, and reading them never holds up the stop."""

from __future__ import annotations

import json
import time

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error, cf_live
from tests.conftest import ALLOWED, MEETING, RunningBot
from tests.fakes import payloads

NAMED = "*Keynote &lt;b&gt;* of meeting *Town hall &amp; Q&amp;A* (`" + MEETING + "`)"


def name_it(cloudflare: FakeCloudflare) -> None:
    cloudflare.add(MEETING, "Keynote <b>", "Town hall & Q&A")


async def test_the_command_names_what_it_stopped(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    name_it(cloudflare)
    await bot.command(MEETING)
    [_, outcome] = await slack.wait_responses(2, "cmd")
    assert outcome["response_type"] == "in_channel"
    assert f"<@{ALLOWED}> stopped the livestream {NAMED}." in outcome["text"]
    assert len(cloudflare.stop_calls) == 1


async def test_the_button_names_what_it_stopped(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    name_it(cloudflare)
    await bot.click(MEETING)
    [outcome] = await slack.wait_responses(1, "btn")
    assert NAMED in outcome["text"]


async def test_the_workflow_step_names_what_it_stopped(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    name_it(cloudflare)
    await bot.step(
        {
            "meeting_id": MEETING,
            "user_context": payloads.user_context(ALLOWED),
            "channel_id": "C0WF",
        }
    )
    [post] = await slack.wait_calls("chat.postMessage")
    assert NAMED in post.data["text"]
    [done] = await slack.wait_calls("functions.completeSuccess")
    outputs = done.data["outputs"]
    outputs = json.loads(outputs) if isinstance(outputs, str) else outputs
    assert NAMED in outputs["message"]


async def test_a_failed_stop_names_it_too_and_so_does_its_try_again_confirm(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    name_it(cloudflare)
    cloudflare.then(cf_dyte_error(404, "Meeting not found"))
    await bot.click(MEETING)
    [outcome] = await slack.wait_responses(1, "btn")
    assert f"tried to stop the livestream {NAMED}, but it failed" in outcome["text"]
    [button] = [e for b in outcome["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "Keynote &lt;b&gt;" in button["confirm"]["text"]["text"]


async def test_a_slow_title_read_does_not_hold_up_the_stop(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    name_it(cloudflare)
    cloudflare.meeting_answers.append(cloudflare.hang())  # never answers
    sent = time.monotonic()
    await bot.command(MEETING)
    # The outcome comes about 1 s after the stop, without the title, not after the read.
    [_, outcome] = await slack.wait_responses(2, "cmd", within=3.0)
    took = time.monotonic() - sent
    assert "stopped the livestream *Keynote &lt;b&gt;* of meeting `" + MEETING in outcome["text"]
    assert "Town hall" not in outcome["text"]
    assert len(cloudflare.stop_calls) == 1
    assert len(cloudflare.meeting_calls()) == 1  # the read was asked, and still hangs
    assert took < 3.0


async def test_names_that_cannot_be_read_leave_the_meeting_id(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    await bot.command(MEETING)  # the fake knows no names: list empty, meeting 404
    [_, outcome] = await slack.wait_responses(2, "cmd")
    assert f"stopped the livestream of meeting `{MEETING}`." in outcome["text"]


async def test_the_status_card_shows_the_meeting_title(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    name_it(cloudflare)
    cloudflare.then(cf_live(MEETING, "Keynote <b>"))
    await bot.command(f"status {MEETING}")
    [card] = await slack.wait_responses(1, "cmd")
    assert "*Meeting:* Town hall &amp; Q&amp;A" in card["text"]
    [button] = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "Town hall &amp; Q&amp;A" in button["confirm"]["text"]["text"]


async def test_the_longest_names_stay_within_slacks_limits_in_the_post(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    cloudflare.add(MEETING, "<!here>&" * 500, "&<>" * 1200)
    cloudflare.then(cf_dyte_error(500, "x" * 3000), cf_dyte_error(500, "x" * 3000))
    await bot.click(MEETING)
    [outcome] = await slack.wait_responses(1, "btn")
    assert "<!here>" not in json.dumps(outcome)
    for block in outcome["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75
                assert len(element["confirm"]["text"]["text"]) <= 300
