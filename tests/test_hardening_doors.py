"""The doors against odd, stale or hostile input, and Slack's limits: signed requests
through Bolt's real dispatch to the running bot."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error, cf_live
from tests.conftest import ALLOWED, MEETING, STRANGER, LogWatch, RunningBot, StartBot
from tests.fakes import payloads
from tests.fakes.faults import FlakyResolver, block_kit_violations
from tests.fakes.livekit import action_buttons as buttons

FORM = "application/x-www-form-urlencoded"
EVIL_USER = "U0X> <!channel> <https://evil.example|x"


async def press(bot: RunningBot, payload: dict[str, Any]) -> int:
    """Send a block_actions payload as Slack would; the HTTP status."""
    status, _ = await bot.post(payloads.action_body(payload), FORM)
    return status


def press_of(slack: FakeSlack, value: str) -> dict[str, Any]:
    """A button press whose value is exactly `value` (no time added), replying to "btn"."""
    payload = payloads.button_click(MEETING, ALLOWED, slack.response_url("btn"))
    payload["actions"][0]["value"] = value
    return payload


def stop_lines(logs: LogWatch) -> list[dict[str, Any]]:
    return [r for r in logs.audit() if r["event"] == "stop"]


def assert_no_errors_logged(logs: LogWatch) -> None:
    """Nothing at ERROR or above, and no traceback anywhere in the logs."""
    assert [r.getMessage() for r in logs.records if r.levelname in ("ERROR", "CRITICAL")] == []
    assert "Traceback" not in logs.text()
    assert not any(r.exc_info or r.exc_text for r in logs.records)


def sent_to_slack(slack: FakeSlack) -> str:
    """Every body the bot sent to Slack."""
    return "\n".join(r.body.decode() for r in slack.recorder.received)


# ------------------------------------------------------------ posts to a response_url


async def test_a_response_url_post_that_could_not_connect_is_retried(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare, logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    resolver = FlakyResolver(monkeypatch, "localhost")
    resolver.fail = 1  # the post's first connect fails: nothing reached Slack
    cloudflare.then(cf_live(MEETING))
    url = f"http://localhost:{slack.port}/response/dns"
    await bot.post(
        payloads.form_body(payloads.slash_command(f"status {MEETING}", ALLOWED, url)), FORM
    )
    [card] = await slack.wait_responses(1, "dns")
    assert "Livestream of meeting" in card["text"]
    assert resolver.failed == 1
    assert [r for r in logs.audit() if r["event"] == "reply_failed"] == []


async def test_a_response_url_429_is_retried_after_retry_after(
    bot: RunningBot,
    slack: FakeSlack,
    cloudflare: FakeCloudflare,
    logs: LogWatch,
    slack_rate_limit_waits: list[float],
) -> None:
    seen: list[float] = []

    async def limited(_: web.Request) -> web.StreamResponse:
        seen.append(time.monotonic())
        return web.Response(status=429, headers={"Retry-After": "1"}, text="rate_limited")

    async def ok(_: web.Request) -> web.StreamResponse:
        seen.append(time.monotonic())
        return web.Response(text="ok")

    slack.response_answers.extend([limited, ok])
    cloudflare.then(cf_live(MEETING))
    await bot.command(f"status {MEETING}")
    first, second = await slack.wait_responses(2, "cmd")
    assert first == second
    assert len(seen) == 2
    assert [int(wait) for wait in slack_rate_limit_waits] == [1]  # the retry waited Retry-After
    assert [r for r in logs.audit() if r["event"] == "reply_failed"] == []


# ------------------------------------------------------------------- stale buttons


@pytest.mark.parametrize(
    ("value", "decision", "reason", "said"),
    [
        (MEETING, "invalid", "malformed_button", "malformed"),
        (f"{MEETING}|²", "invalid", "malformed_button", "malformed"),
        (payloads.button_value(MEETING, time.time() - 360), "denied", "expired", "expired"),
    ],
    ids=["no-time", "superscript-time", "six-minutes-old"],
)
async def test_a_stale_or_malformed_button_is_refused_and_audited(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare, logs: LogWatch,
    value: str, decision: str, reason: str, said: str,
) -> None:  # fmt: skip
    assert await press(bot, press_of(slack, value)) == 200
    [reply] = await slack.wait_responses(1, "btn")
    assert reply["response_type"] == "ephemeral" and said in reply["text"]
    [line] = stop_lines(logs)
    assert (line["decision"], line["reason"]) == (decision, reason)
    assert cloudflare.stop_calls == []
    assert_no_errors_logged(logs)


async def test_the_try_again_button_is_fresh_and_works(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_dyte_error(500, "Internal error"))
    await bot.command(MEETING)
    await slack.recorder.wait_for(lambda _: len(slack.responses("cmd")) == 2)
    [button] = buttons(slack.responses("cmd")[1])
    meeting, shown_at = button["value"].split("|")
    assert meeting == MEETING and abs(int(shown_at) - time.time()) < 5
    await bot.click(button["value"])
    [outcome] = await slack.wait_responses(1, "btn")
    assert "Stopped live stream successfully" in outcome["text"]
    assert len(cloudflare.stop_calls) == 2


async def test_a_private_card_is_replaced_as_soon_as_its_button_is_pressed(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    gate = asyncio.Event()
    cloudflare.then(cloudflare.gated(gate))
    payload = payloads.button_click(MEETING, ALLOWED, slack.response_url("card"))
    payload["container"]["is_ephemeral"] = True
    assert await press(bot, payload) == 200
    [pressed] = await slack.wait_responses(1, "card")
    assert pressed["replace_original"] is True
    assert "Stopping the livestream" in pressed["text"] and buttons(pressed) == []
    await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
    # The same card pressed again while the first stop runs calls nothing and says so.
    assert await press(bot, payload) == 200
    replies = await slack.wait_responses(3, "card")
    assert "has not finished" in replies[2]["text"] and replies[2]["replace_original"]
    gate.set()
    replies = await slack.wait_responses(5, "card")
    public = [r for r in replies[3:] if r["response_type"] == "in_channel"]
    assert len(public) == 1 and "stopped the livestream" in public[0]["text"]
    assert all(buttons(r) == [] for r in replies)
    assert len(cloudflare.stop_calls) == 1
    assert [line["decision"] for line in stop_lines(logs)] == ["already_pressed", "allowed"]


# --------------------------------------------------------------- Block Kit limits

LONG = "<&>" * 1000  # 3,000 characters, each of which grows when escaped


async def test_long_outside_text_stays_within_block_kit_limits(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_dyte_error(400, LONG))
    await bot.command(MEETING, response="stop")
    await slack.wait_responses(2, "stop")
    cloudflare.then(cf_live(MEETING, name=LONG))
    await bot.command(f"status {MEETING}", response="card")
    await slack.wait_responses(1, "card")
    await bot.command("x" * 3000, response="bad")
    await slack.wait_responses(1, "bad")
    cloudflare.then(cf_dyte_error(400, LONG))
    inputs = {"meeting_id": MEETING, "user_context": payloads.user_context(ALLOWED)}
    await bot.step({**inputs, "channel_id": "C0WF"})
    [post] = await slack.wait_calls("chat.postMessage")
    await slack.wait_calls("functions.completeError")

    sent = [*slack.responses(), post.data]
    assert len(sent) == 5
    assert [problem for message in sent for problem in block_kit_violations(message)] == []
    # The walk saw what it is meant to check: a Try again button and a Stop button.
    assert buttons(slack.responses("stop")[1]) and buttons(slack.responses("card")[0])
    assert "&lt;&amp;&gt;" in slack.responses("card")[0]["text"]


# ------------------------------------------------------- odd payloads, signed anyway


def user_as_text(p: dict[str, Any]) -> None:
    p["user"] = ALLOWED


def channel_as_text(p: dict[str, Any]) -> None:
    p["channel"] = "C0OPS"


def no_actions(p: dict[str, Any]) -> None:
    p["actions"] = []


def action_not_an_object(p: dict[str, Any]) -> None:
    p["actions"] = ["stop_livestream"]


@pytest.mark.parametrize(
    ("odd", "expected"),
    [
        (user_as_text, ("invalid", "malformed_user")),
        (channel_as_text, ("allowed", None)),
        (no_actions, ("invalid", "malformed_button")),
        (action_not_an_object, ("invalid", "malformed_button")),
    ],
    ids=["user-as-string", "channel-as-string", "actions-empty", "action-not-an-object"],
)
async def test_an_odd_button_payload_is_answered_200_and_refused_or_served(
    bot: RunningBot, slack: FakeSlack, logs: LogWatch,
    odd: Callable[[dict[str, Any]], None], expected: tuple[str, str | None],
) -> None:  # fmt: skip
    payload = payloads.button_click(MEETING, ALLOWED, slack.response_url("btn"))
    odd(payload)
    assert await press(bot, payload) == 200
    await logs.wait_for(lambda w: bool(stop_lines(w)))
    [line] = stop_lines(logs)
    assert (line["decision"], line.get("reason")) == expected
    if expected[0] == "allowed":  # the channel is read from the container instead
        [outcome] = await slack.wait_responses(1, "btn")
        assert outcome["response_type"] == "in_channel" and line["channel_id"] == "C0OPS"
    elif expected[1] == "malformed_user":
        [reply] = await slack.wait_responses(1, "btn")
        assert "user ID is malformed" in reply["text"]
    assert_no_errors_logged(logs)


@pytest.mark.parametrize("inputs", [None, {"meeting_id": MEETING, "user_id": ALLOWED}])
async def test_a_step_without_a_user_context_is_refused_clearly(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare, logs: LogWatch,
    inputs: dict[str, Any] | None,
) -> None:  # fmt: skip
    body = payloads.function_executed(inputs or {})
    if inputs is None:
        del body["event"]["inputs"]
    status, _ = await bot.post(json.dumps(body), "application/json")
    assert status == 200
    [failed] = await slack.wait_calls("functions.completeError")
    assert "needs to know who ran the workflow" in failed.data["error"]
    [line] = stop_lines(logs)
    assert (line["decision"], line["reason"]) == ("invalid", "no_user_context")
    assert cloudflare.recorder.received == []
    assert_no_errors_logged(logs)


async def test_a_step_acts_for_the_person_who_ran_it_not_a_typed_user_id(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    await bot.step(
        {
            "meeting_id": MEETING,
            "user_id": ALLOWED,  # what a workflow's builder could type
            "user_context": payloads.user_context(STRANGER),  # who ran it, filled by Slack
        }
    )
    [failed] = await slack.wait_calls("functions.completeError")
    assert "not allowed" in failed.data["error"]
    [line] = stop_lines(logs)
    assert (line["user_id"], line["decision"], line["reason"]) == (
        STRANGER,
        "denied",
        "not_allowed",
    )
    assert cloudflare.stop_calls == []


# -------------------------------------------------------------- the command's words


@pytest.mark.parametrize("space", ["\t", "\n", " \t "], ids=["tab", "newline", "mixed"])
async def test_status_parses_with_any_whitespace(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare, space: str
) -> None:
    cloudflare.then(cf_live(MEETING))
    await bot.command(f"status{space}{MEETING}")
    [card] = await slack.wait_responses(1, "cmd")
    assert "Livestream of meeting" in card["text"] and "LIVE" in card["text"]
    assert cloudflare.stop_calls == []


# ----------------------------------------------------------- identifiers as markup


@pytest.mark.parametrize("door", ["command", "button"])
async def test_a_user_id_carrying_markup_is_refused_and_never_echoed(
    bot: RunningBot, slack: FakeSlack, cloudflare: FakeCloudflare, logs: LogWatch, door: str
) -> None:
    if door == "command":
        await bot.command(MEETING, EVIL_USER, response="evil")
    else:
        await bot.click(MEETING, EVIL_USER, response="evil")
    [reply] = await slack.wait_responses(1, "evil")
    assert "user ID is malformed" in reply["text"]
    [line] = stop_lines(logs)
    assert (line["decision"], line["reason"]) == ("invalid", "malformed_user")
    sent = sent_to_slack(slack)
    assert "<!channel>" not in sent and "<https://evil" not in sent
    assert cloudflare.recorder.received == []
    assert slack.calls("usergroups.users.list") == []


# ---------------------------------------------------------------- Enterprise Grid


async def test_a_user_group_lookup_names_the_workspace_asking(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(ALLOWED_USER_IDS="", ALLOWED_USERGROUP_IDS="S0OPS")

    async def members(_: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "users": ["U0GROUPIE"]})

    slack.answer_api("usergroups.users.list", members)
    fields = payloads.slash_command(MEETING, "U0GROUPIE", slack.response_url("cmd"))
    fields["team_id"] = "T0WORKSPACE2"
    await bot.post(payloads.form_body(fields), FORM)
    [call] = await slack.wait_calls("usergroups.users.list")
    assert (call.data["usergroup"], call.data["team_id"]) == ("S0OPS", "T0WORKSPACE2")
    await slack.wait_responses(2, "cmd")
    assert len(cloudflare.stop_calls) == 1


async def test_a_channel_post_whose_connection_broke_after_sending_is_not_posted_again(
    bot: RunningBot, slack: FakeSlack
) -> None:
    async def drop_after_reading(request: web.Request) -> web.StreamResponse:
        await request.read()  # Slack has the post; the answer never arrives
        assert request.transport is not None
        request.transport.close()
        return web.Response(text="never sent")

    slack.answer_api("chat.postMessage", *[drop_after_reading] * 3)
    await bot.click(MEETING, response=None, channel_id="C0HOME")
    # The failed post is reported to the person privately, with a ref.
    await slack.wait_calls("chat.postEphemeral")
    outcomes = [
        c
        for c in slack.calls("chat.postMessage")
        if "stopped the livestream" in c.data.get("text", "")
    ]
    assert len(outcomes) == 1
