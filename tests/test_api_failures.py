"""How each RealtimeKit answer reads in the channel, driven through the slash command."""

from __future__ import annotations

import socket

import pytest

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import (
    Handler,
    cf_dyte_error,
    cf_json,
    cf_live,
    cf_raw,
    cf_success,
    cf_v4_error,
)
from tests.conftest import ALLOWED, MEETING, LogWatch, RunningBot, StartBot, channel_post
from tests.test_metrics import scrape, value


async def outcome_of(bot: RunningBot) -> dict[str, object]:
    """Send the command and return the one reply posted in the channel."""
    await bot.command(MEETING)
    return await channel_post(bot.slack)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            cf_dyte_error(404, "Meeting not found"),
            "Meeting not found (HTTP 404)",
        ),
        (cf_v4_error(403, 10000, "Authentication error"), "Authentication error (HTTP 403)"),
        (
            cf_json(200, {"success": False, "error": {"code": 200, "message": "Could not stop"}}),
            "Could not stop (HTTP 200)",
        ),
        (cf_json(200, {"success": False}), "unexpected response from the API (HTTP 200)"),
        (
            cf_dyte_error(400, "<!channel> <https://evil|click>"),
            "&lt;!channel&gt; &lt;https://evil|click&gt;",
        ),
        (
            cf_raw(404, b"<html><body>Not found</body></html>"),
            "unexpected response from the API (HTTP 404)",
        ),
        (cf_raw(401, b""), "unexpected response from the API (HTTP 401)"),
        (
            cf_raw(400, b"{not json", "application/json"),
            "unexpected response from the API (HTTP 400)",
        ),
    ],
)
async def test_api_errors_are_relayed_to_the_channel_after_one_call(
    bot: RunningBot, cloudflare: FakeCloudflare, answer: Handler, expected: str
) -> None:
    cloudflare.then(answer)
    outcome = await outcome_of(bot)
    text = str(outcome["text"])
    assert expected in text
    assert "<html>" not in text
    assert f"<@{ALLOWED}>" in text and MEETING in text
    assert "ref:" in text
    assert len(cloudflare.stop_calls) == 1


async def test_html_502_is_retried_and_then_reported_without_markup(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    page = cf_raw(502, b"<html><head><title>502 Bad Gateway</title></head></html>")
    # Each 502 is followed by a status read that finds the stream still live.
    cloudflare.then(*[page, cf_live(MEETING)] * 3)
    outcome = await outcome_of(bot)
    assert "unexpected response from the API (HTTP 502)" in str(outcome["text"])
    assert "<html>" not in str(outcome) and "Bad Gateway" not in str(outcome)
    assert len(cloudflare.stop_calls) == 3


async def test_503_then_success_is_retried(bot: RunningBot, cloudflare: FakeCloudflare) -> None:
    cloudflare.then(cf_raw(503, b""), cf_live(MEETING), cf_success("livestream stopped"))
    outcome = await outcome_of(bot)
    assert "livestream stopped" in str(outcome["text"])
    assert len(cloudflare.stop_calls) == 2


async def test_429_then_success_honours_retry_after(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    limited = {"success": False, "errors": [{"code": 971, "message": "Please wait"}]}
    cloudflare.then(cf_json(429, limited, {"Retry-After": "0"}))
    outcome = await outcome_of(bot)
    assert "Stopped live stream successfully" in str(outcome["text"])
    assert len(cloudflare.stop_calls) == 2


async def test_429_with_a_long_retry_after_is_reported_not_waited_for(
    bot: RunningBot, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(cf_json(429, {"success": False}, {"Retry-After": "120"}))
    outcome = await outcome_of(bot)
    assert "rate limited by Cloudflare; retry in 120 s" in str(outcome["text"])
    assert len(cloudflare.stop_calls) == 1


async def test_other_4xx_is_not_retried(bot: RunningBot, cloudflare: FakeCloudflare) -> None:
    cloudflare.default = cf_dyte_error(409, "Conflict")
    outcome = await outcome_of(bot)
    assert "Conflict (HTTP 409)" in str(outcome["text"])
    assert len(cloudflare.stop_calls) == 1


async def test_read_timeout_is_reported_and_not_retried(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(CLOUDFLARE_TIMEOUT_SECONDS="0.3")
    cloudflare.default = cloudflare.hang()
    outcome = await outcome_of(bot)
    assert "timed out after 0.3 s" in str(outcome["text"])
    assert "may or may not have stopped" in str(outcome["text"])
    assert len(cloudflare.stop_calls) == 1


async def test_connection_refused_is_retried_then_reported(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    bot = await start_bot(CLOUDFLARE_API_BASE_URL=f"http://127.0.0.1:{closed_port}/client/v4")
    outcome = await outcome_of(bot)
    assert "could not reach the Cloudflare API (connection refused)" in str(outcome["text"])


async def test_a_meeting_not_live_gets_a_neutral_post_an_audit_line_and_a_metric(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    _, before = await scrape(bot.url)
    cloudflare.then(cf_dyte_error(404, "No active livestream found for this meeting"))
    outcome = await outcome_of(bot)
    text = str(outcome["text"])
    assert "nothing to stop" in text and MEETING in text
    assert "No active livestream found for this meeting" in text
    assert "failed" not in text
    assert [b for b in outcome["blocks"] if b["type"] == "actions"] == []  # type: ignore[union-attr]
    [record] = logs.audit()
    assert record["outcome"] == "not_live" and record["api_status"] == 404
    _, after = await scrape(bot.url)
    moved = value(after, "stops_total", door="command", outcome="not_live") - value(
        before, "stops_total", door="command", outcome="not_live"
    )
    assert moved == 1


async def test_a_404_for_an_unknown_meeting_stays_an_error_with_try_again(
    bot: RunningBot, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    cloudflare.then(cf_dyte_error(404, "Meeting not found"))
    outcome = await outcome_of(bot)
    text = str(outcome["text"])
    assert "but it failed" in text and "Meeting not found (HTTP 404)" in text
    assert "meeting ID" in text  # says a 404 like this may mean a wrong meeting or app
    assert [b for b in outcome["blocks"] if b["type"] == "actions"]  # type: ignore[union-attr]
    [record] = logs.audit()
    assert record["outcome"] == "api_error"
