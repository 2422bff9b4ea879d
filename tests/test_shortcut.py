"""The global shortcut "Stop a livestream": its modal, type-ahead options through Bolt's
real dispatch, and the modal's submission."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import web

from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import StandInSlack as FakeSlack
from bot.listeners import shortcut
from bot.service import reads as finding
from tests.conftest import ALLOWED, STRANGER, LogWatch, RunningBot, StartBot, slack_error
from tests.fakes import payloads, picker
from tests.fakes.livekit import meeting, started

FORM = "application/x-www-form-urlencoded"
WARM_PER_SECOND = finding.TITLE_WARM_PER_SECOND  # the real pace of background title reads


@pytest.fixture(autouse=True)
def brisk_title_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Titles are read behind a keystroke, a few a second: tests that wait for them read
    ten times faster (the pacing test puts the real pace back)."""
    monkeypatch.setattr(finding, "TITLE_WARM_PER_SECOND", WARM_PER_SECOND * 10)


@pytest.fixture
def rk(rk: StandInRealtimeKit) -> StandInRealtimeKit:
    """conftest's stand-in with this module's live streams."""
    rk.add(meeting(1), "Keynote", "Town hall", started(30))
    rk.add(meeting(2), "Product demo", "Launch week", started(20))
    rk.add(meeting(3), "Office hours", "Support", started(10))
    return rk


async def send(bot: RunningBot, payload: dict[str, Any]) -> tuple[int, str]:
    return await bot.post(payloads.action_body(payload), FORM)


async def suggest(bot: RunningBot, typed: str, user_id: str = ALLOWED) -> list[dict[str, Any]]:
    status, body = await send(bot, picker.block_suggestion(typed, user_id))
    assert status == 200
    options: list[dict[str, Any]] = json.loads(body)["options"]
    return options


async def test_the_shortcut_opens_the_modal_without_waiting_for_the_api(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    status, body = await send(rk_bot, picker.global_shortcut(ALLOWED, trigger_id="trig-1"))
    assert (status, body) == (200, "")
    [opened] = await slack.wait_calls("views.open")
    assert opened.data["trigger_id"] == "trig-1"
    view = opened.data["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "stop_livestream_modal"
    elements = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert elements["stream"]["type"] == "external_select"
    assert elements["stream"]["action_id"] == "live_stream_pick"
    assert elements["channel"]["type"] == "conversations_select"
    assert rk.recorder.received == []  # the modal opened before anything was read


async def suggest_until(bot: RunningBot, typed: str, within: float = 5.0) -> list[dict[str, Any]]:
    """Type `typed` again (as a person does) until some option comes, within `within` s:
    titles are read in the background, after the first keystroke."""
    deadline = time.monotonic() + within
    while not (options := await suggest(bot, typed)) and time.monotonic() < deadline:
        pass
    return options


def held_titles(rk: StandInRealtimeKit, gate: asyncio.Event, count: int) -> None:
    """The next `count` meeting reads answer only once `gate` is set."""

    async def held(request: web.Request) -> web.StreamResponse:
        await gate.wait()
        meeting_id = request.match_info["meeting"]
        data = {"id": meeting_id, "title": rk.titles[meeting_id]}
        return web.json_response({"success": True, "data": data})

    rk.meeting_answers.extend([held] * count)


def channel_info(**fields: Any) -> Any:
    async def answer(request: web.Request) -> web.StreamResponse:
        data = await request.post()
        channel = {"id": data.get("channel"), **fields}
        return web.json_response({"ok": True, "channel": channel})

    return answer


@pytest.mark.parametrize("typed", ["keyn", "TOWN HALL", meeting(1)[:10]])
async def test_typing_narrows_the_picker_to_one_stream(
    rk_bot: RunningBot, rk: StandInRealtimeKit, typed: str
) -> None:
    await suggest_until(rk_bot, "town hall")  # titles are read behind the first keystroke
    [option] = await suggest(rk_bot, typed)
    assert option["value"] == meeting(1)
    assert option["text"] == {"type": "plain_text", "text": "Keynote — Town hall"}


async def test_an_empty_query_offers_everything_live_from_one_cached_read(
    rk_bot: RunningBot, rk: StandInRealtimeKit
) -> None:
    options = await suggest(rk_bot, "")
    assert [o["value"] for o in options] == [meeting(3), meeting(2), meeting(1)]
    assert await suggest(rk_bot, "o") != []
    assert len(rk.list_calls()) == 1  # keystrokes share the list for a few seconds


async def test_at_most_100_options_of_at_most_75_characters(
    rk_bot: RunningBot, rk: StandInRealtimeKit
) -> None:
    for n in range(10, 130):
        rk.add(meeting(n), "Marathon <!here> " * 200, "& title " * 400, started(n))
    options = await suggest(rk_bot, "marathon")
    assert len(options) == 100
    for option in options:
        assert len(option["text"]["text"]) <= 75
        assert len(option["description"]["text"]) <= 75
        assert len(option["value"]) <= 150


async def test_a_stranger_gets_no_options_and_no_api_call(
    rk_bot: RunningBot, rk: StandInRealtimeKit
) -> None:
    assert await suggest(rk_bot, "keyn", STRANGER) == []
    assert rk.recorder.received == []


async def test_a_stranger_submitting_is_told_in_the_modal_and_nothing_is_called(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    status, body = await send(rk_bot, picker.view_submission(STRANGER, meeting(1), "C0OPS"))
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert "not allowed" in answer["errors"]["stream"]
    assert rk.recorder.received == []
    assert slack.calls("chat.postMessage") == []
    [line] = logs.audit()  # the refusal is audited once
    assert (line["event"], line["door"], line["decision"]) == ("stop", "shortcut", "denied")


async def test_with_a_channel_allowlist_the_picker_still_offers_what_is_live(
    start_bot: StartBot, rk: StandInRealtimeKit
) -> None:
    # The modal has no channel until the person picks one; that is checked on submission.
    bot = await start_bot(CLOUDFLARE_API_BASE_URL=rk.base_url, ALLOWED_CHANNEL_IDS="C0OPS")
    [option] = await suggest(bot, "keyn")
    assert option["value"] == meeting(1)


async def test_a_submission_for_a_channel_outside_the_allowlist_is_refused_there(
    start_bot: StartBot, rk: StandInRealtimeKit
) -> None:
    bot = await start_bot(CLOUDFLARE_API_BASE_URL=rk.base_url, ALLOWED_CHANNEL_IDS="C0OPS")
    _, body = await send(bot, picker.view_submission(ALLOWED, meeting(1), "C0ELSEWHERE"))
    assert list(json.loads(body)["errors"]) == ["channel"]
    assert rk.recorder.received == []


async def test_a_submission_stops_the_stream_and_posts_in_the_chosen_channel(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    await suggest(rk_bot, "keyn")  # as the person types: the list is read and remembered
    status, body = await send(rk_bot, picker.view_submission(ALLOWED, meeting(1), "C0ANNOUNCE"))
    assert (status, body) == (200, "")  # the modal closes
    [post] = await slack.wait_calls("chat.postMessage")
    assert post.data["channel"] == "C0ANNOUNCE"
    text = post.data["text"]
    assert f"<@{ALLOWED}> stopped the livestream *Keynote* of meeting *Town hall*" in text
    assert meeting(1) in text
    assert meeting(1) not in rk.live and meeting(2) in rk.live
    stops = [line for line in logs.audit() if line["event"] == "stop"]
    assert [(s["door"], s["decision"], s["outcome"]) for s in stops] == [
        ("shortcut", "allowed", "stopped")
    ]


async def test_a_submission_for_a_stream_no_longer_live_says_so_in_the_channel(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    gone = meeting(99)
    await send(rk_bot, picker.view_submission(ALLOWED, gone, "C0ANNOUNCE"))
    [post] = await slack.wait_calls("chat.postMessage")
    assert "nothing to stop" in post.data["text"] and "No active livestream" in post.data["text"]


async def test_a_slow_list_answers_the_keystroke_in_time_and_the_next_one_from_it(
    rk_bot: RunningBot, rk: StandInRealtimeKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The keystroke waits out the door's wait for the list, which leaves a second of Slack's
    # 3 s for the rest: the test gets a short one.
    assert shortcut.SUGGEST_WITHIN_SECONDS <= 2.0
    monkeypatch.setattr(shortcut, "SUGGEST_WITHIN_SECONDS", 0.3)
    gate = asyncio.Event()
    rk.list_answers.append(rk.gated(gate, rk.listing))
    sent = time.monotonic()
    assert await suggest(rk_bot, "keyn") == []  # nothing yet, but within Slack's 3 s
    assert time.monotonic() - sent < 3.0
    gate.set()
    [option] = await suggest(rk_bot, "keyn")  # the same read, finished meanwhile
    assert option["value"] == meeting(1)
    assert len(rk.list_calls()) == 1


@pytest.mark.parametrize(
    "state",
    [{"values": "not an object"}, {"values": {"stream": "x", "channel": ["y"]}}, "no state"],
    ids=["values-a-string", "blocks-of-the-wrong-type", "state-a-string"],
)
async def test_a_malformed_submission_is_refused_in_the_modal_not_a_500(
    rk_bot: RunningBot, rk: StandInRealtimeKit, state: Any, logs: LogWatch
) -> None:
    submission = picker.view_submission(ALLOWED, meeting(1), "C0OPS")
    submission["view"]["state"] = state
    status, body = await send(rk_bot, submission)
    assert status == 200
    assert "errors" in body  # nothing picked: the modal asks for a stream
    assert meeting(1) in rk.live and not [r for r in rk.recorder.received if r.method == "POST"]
    assert "Traceback" not in logs.text()


async def test_a_keystroke_is_answered_from_the_list_while_the_titles_are_read_behind_it(
    rk_bot: RunningBot, rk: StandInRealtimeKit
) -> None:
    gate = asyncio.Event()
    held_titles(rk, gate, 3)
    sent = time.monotonic()
    options = await suggest(rk_bot, "")
    assert time.monotonic() - sent < 1.0  # the title reads hang; the answer did not wait
    assert [o["text"]["text"] for o in options] == ["Office hours", "Product demo", "Keynote"]
    assert await suggest(rk_bot, "town hall") == []  # not known yet
    gate.set()
    [option] = await suggest_until(rk_bot, "town hall")  # known once read
    assert option["text"]["text"] == "Keynote — Town hall"
    assert len(rk.meeting_calls()) == 3  # each title read once
    assert len(rk.list_calls()) == 1


async def test_a_title_that_cannot_be_read_is_not_read_again_at_every_keystroke(
    rk_bot: RunningBot, rk: StandInRealtimeKit
) -> None:
    async def forbidden(_: web.Request) -> web.StreamResponse:
        error = {"code": 403, "message": "Forbidden"}
        return web.json_response({"success": False, "error": error}, status=403)

    rk.meeting_answers.extend([forbidden] * 20)
    await suggest(rk_bot, "k")
    await rk.recorder.wait_for(lambda _: len(rk.meeting_calls()) >= 3)
    for typed in ("ke", "key", "keyn", "keyno"):  # after the reads failed
        await suggest(rk_bot, typed)
    with pytest.raises(TimeoutError):  # no read again: each failure is remembered
        await rk.recorder.wait_for(lambda _: len(rk.meeting_calls()) > 3, 0.5)  # 20 paced starts
    [option] = await suggest(rk_bot, "keyn")
    assert option["text"]["text"] == "Keynote"
    assert len(rk.meeting_calls()) == 3  # one failed read each, remembered


async def test_title_reads_behind_the_picker_are_a_few_at_a_time(
    rk_bot: RunningBot, rk: StandInRealtimeKit
) -> None:
    for n in range(10, 40):
        rk.add(meeting(n), f"Room {n}", f"Title {n}", started(n))
    gate = asyncio.Event()
    held_titles(rk, gate, 33)
    assert len(await suggest(rk_bot, "room")) == 30
    await rk.recorder.wait_for(lambda _: len(rk.meeting_calls()) >= 2)
    await suggest(rk_bot, "room 1")  # a round trip: later reads would have come meanwhile
    assert len(rk.meeting_calls()) == 2  # service.reads.TITLE_WARM_READS
    gate.set()


@pytest.mark.parametrize(
    "answer",
    [slack_error("channel_not_found"), channel_info(is_private=True, is_member=False),
     channel_info(is_archived=True, is_member=True)],
    ids=["private-without-the-bot", "private-not-a-member", "archived"],
)  # fmt: skip
async def test_a_channel_the_bot_cannot_post_in_is_refused_in_the_modal(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, answer: Any
) -> None:
    slack.answer_api("conversations.info", answer)
    status, body = await send(rk_bot, picker.view_submission(ALLOWED, meeting(1), "G0SECRET"))
    assert status == 200
    errors = json.loads(body)["errors"]
    assert list(errors) == ["channel"] and "/invite" in errors["channel"]
    assert meeting(1) in rk.live  # nothing stopped
    [asked] = slack.calls("conversations.info")
    assert asked.data["channel"] == "G0SECRET"


async def test_a_public_channel_the_bot_is_not_in_is_accepted(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack
) -> None:
    slack.answer_api("conversations.info", channel_info(is_private=False, is_member=False))
    status, body = await send(rk_bot, picker.view_submission(ALLOWED, meeting(1), "C0PUBLIC"))
    assert (status, body) == (200, "")  # chat:write.public covers it
    [post] = await slack.wait_calls("chat.postMessage")
    assert post.data["channel"] == "C0PUBLIC"


async def test_a_post_that_fails_after_the_stop_reaches_the_person_by_direct_message(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    slack.answer_api("chat.postMessage", slack_error("not_in_channel"))
    await send(rk_bot, picker.view_submission(ALLOWED, meeting(1), "C0ANNOUNCE"))
    first, dm = await slack.wait_calls("chat.postMessage", 2)
    assert first.data["channel"] == "C0ANNOUNCE"
    assert dm.data["channel"] == ALLOWED  # the app's Messages tab with the person
    assert "stopped the livestream" in dm.data["text"] and meeting(1) in dm.data["text"]
    assert meeting(1) not in rk.live
    assert slack.calls("chat.postEphemeral") == []
    assert "reply_failed" not in [line["event"] for line in logs.audit()]


async def test_when_nobody_can_be_told_the_audit_says_reply_failed(
    rk_bot: RunningBot, rk: StandInRealtimeKit, slack: FakeSlack, logs: LogWatch
) -> None:
    slack.answer_api("chat.postMessage", *[slack_error("not_in_channel")] * 2)
    await send(rk_bot, picker.view_submission(ALLOWED, meeting(1), "C0ANNOUNCE"))
    await logs.wait_for(lambda w: any(a["event"] == "reply_failed" for a in w.audit()))
    [stop] = [a for a in logs.audit() if a["event"] == "stop"]
    [failed] = [a for a in logs.audit() if a["event"] == "reply_failed"]
    assert failed["request_id"] == stop["request_id"]
    assert meeting(1) not in rk.live


async def test_title_reads_behind_the_picker_are_paced(
    rk_bot: RunningBot, rk: StandInRealtimeKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(finding, "TITLE_WARM_PER_SECOND", WARM_PER_SECOND)
    for n in range(10, 40):
        rk.add(meeting(n), f"Room {n}", f"Title {n}", started(n))
    arrived: list[float] = []
    five = asyncio.Event()

    async def timed(request: web.Request) -> web.StreamResponse:
        arrived.append(time.monotonic())
        if len(arrived) >= 5:
            five.set()
        meeting_id = request.match_info["meeting"]
        data = {"id": meeting_id, "title": rk.titles[meeting_id]}
        return web.json_response({"success": True, "data": data})

    rk.meeting_answers.extend([timed] * 33)
    await suggest(rk_bot, "room")
    await asyncio.wait_for(five.wait(), 5)
    # service.reads.TITLE_WARM_PER_SECOND = 4: five reads start over at least a second
    assert arrived[4] - arrived[0] >= 0.95
