"""Nothing stopped twice: concurrent requests share a call; redeliveries do nothing."""

from __future__ import annotations

import asyncio

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from tests.conftest import ALLOWED, MEETING, OTHER_ALLOWED, LogWatch, RunningBot
from tests.fakes import payloads


async def test_concurrent_requests_for_one_meeting_share_one_api_call(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack, logs: LogWatch
) -> None:
    gate = asyncio.Event()
    cloudflare.default = cloudflare.gated(gate)
    await bot.command(MEETING, ALLOWED, response="a")
    await bot.command(MEETING.upper(), OTHER_ALLOWED, response="b")
    await bot.click(MEETING, ALLOWED, response="c")
    # Wait until all three are past the checks and waiting on the one call in flight.
    await logs.wait_for(lambda w: sum("sharing that call" in line for line in w.lines()) == 2)
    assert len(cloudflare.stop_calls) == 1
    gate.set()
    for name in ("a", "b", "c"):
        await slack.recorder.wait_for(
            lambda _, n=name: any(
                r.get("response_type") == "in_channel" for r in slack.responses(n)
            )
        )
    assert len(cloudflare.stop_calls) == 1
    records = logs.audit()
    assert len(records) == 3
    assert sorted(r["shared"] for r in records) == [False, True, True]


async def test_workflow_step_redelivered_with_the_same_execution_id_acts_once(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack, logs: LogWatch
) -> None:
    inputs = {
        "meeting_id": MEETING,
        "user_context": payloads.user_context(ALLOWED),
        "channel_id": "C0WF",
    }
    await bot.step(inputs, execution_id="Fx1", event_id="Ev1")
    await slack.wait_calls("functions.completeSuccess")
    status, _ = await bot.step(
        inputs, execution_id="Fx1", event_id="Ev2", headers={"X-Slack-Retry-Num": "1"}
    )
    assert status == 200
    status, _ = await bot.step(
        inputs, execution_id="Fx9", event_id="Ev1", headers={"X-Slack-Retry-Num": "2"}
    )
    assert status == 200
    await logs.wait_for(lambda w: sum("ignored a redelivery" in line for line in w.lines()) == 2)
    assert len(cloudflare.stop_calls) == 1
    assert len(slack.calls("chat.postMessage")) == 1
    assert len(slack.calls("functions.completeSuccess")) == 1
    assert len(logs.audit()) == 1


async def test_a_new_execution_of_the_step_is_not_mistaken_for_a_redelivery(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    await bot.step(
        {"meeting_id": MEETING, "user_context": payloads.user_context(ALLOWED)},
        execution_id="Fx1",
        event_id="Ev1",
    )
    await slack.wait_calls("functions.completeSuccess", 1)
    await bot.step(
        {"meeting_id": MEETING, "user_context": payloads.user_context(ALLOWED)},
        execution_id="Fx2",
        event_id="Ev2",
    )
    await slack.wait_calls("functions.completeSuccess", 2)
    assert len(cloudflare.stop_calls) == 2
