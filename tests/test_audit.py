"""One JSON audit line per attempt, allowed or not; request ids in failure replies."""

from __future__ import annotations

from datetime import datetime

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error
from tests.conftest import ALLOWED, MEETING, STRANGER, LogWatch, RunningBot
from tests.fakes import payloads

FIELDS = {
    "time",
    "event",
    "request_id",
    "door",
    "team_id",
    "user_id",
    "channel_id",
    "meeting_id",
    "decision",
    "duration_ms",
}


async def test_allowed_stop_writes_one_complete_record(
    bot: RunningBot, slack: FakeSlack, logs: LogWatch
) -> None:
    await bot.command(MEETING)
    await slack.wait_responses(2, "cmd")
    [record] = logs.audit()
    assert set(record) >= FIELDS
    assert record["event"] == "stop"
    assert record["door"] == "command"
    assert (record["team_id"], record["user_id"], record["channel_id"]) == (
        "T0TEAM",
        ALLOWED,
        "C0OPS",
    )
    assert record["meeting_id"] == MEETING
    assert record["decision"] == "allowed"
    assert record["api_status"] == 200
    assert record["outcome"] == "stopped"
    assert isinstance(record["duration_ms"], int) and record["duration_ms"] >= 0
    assert datetime.fromisoformat(record["time"]).tzinfo is not None


async def test_denied_and_invalid_attempts_are_recorded_with_the_reason(
    bot: RunningBot, slack: FakeSlack, logs: LogWatch, cloudflare: FakeCloudflare
) -> None:
    await bot.click(MEETING, STRANGER)
    await bot.step({"meeting_id": "nope", "user_context": payloads.user_context(ALLOWED)})
    await slack.wait_responses(1, "btn")
    await slack.wait_calls("functions.completeError")
    records = {r["door"]: r for r in logs.audit()}
    assert records["button"]["decision"] == "denied"
    assert records["button"]["reason"] == "not_allowed"
    assert records["button"]["user_id"] == STRANGER
    assert records["workflow"]["decision"] == "invalid"
    assert records["workflow"]["meeting_id"] is None
    assert cloudflare.stop_calls == []


async def test_failure_reply_carries_the_request_id_of_its_audit_line(
    bot: RunningBot, slack: FakeSlack, logs: LogWatch, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_dyte_error(404, "Meeting not found"))
    await bot.command(MEETING)
    [_, outcome] = await slack.wait_responses(2, "cmd")
    [record] = logs.audit()
    assert record["outcome"] == "api_error" and record["api_status"] == 404
    assert f"(ref: {record['request_id']})" in outcome["text"]

    await bot.command(MEETING, STRANGER, response="denied")
    [denied] = await slack.wait_responses(1, "denied")
    assert f"ref: {logs.audit()[-1]['request_id']}" in denied["text"]
