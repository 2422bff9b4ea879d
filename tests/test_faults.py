"""Faults upstream and at Slack: a specific message, posted once, and a healthy bot."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_json, cf_raw, cf_reset_mid_body
from bot.realtimekit import RealtimeKitClient
from tests.conftest import MEETING, LogWatch, RunningBot, StartBot
from tests.fakes import payloads


async def in_channel_outcomes(bot: RunningBot, name: str) -> list[dict[str, object]]:
    await bot.slack.recorder.wait_for(
        lambda _: any(r.get("response_type") == "in_channel" for r in bot.slack.responses(name))
    )
    return [r for r in bot.slack.responses(name) if r.get("response_type") == "in_channel"]


async def assert_healthy(bot: RunningBot, cloudflare: FakeCloudflare) -> None:
    async with aiohttp.ClientSession() as session, session.get(bot.url + "/healthz") as r:
        assert r.status == 200


@pytest.fixture
def backlog_full() -> Iterator[int]:
    """A port whose accept queue is full, so connecting to it times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.socket()
    filler.connect(server.getsockname())
    yield int(server.getsockname()[1])
    filler.close()
    server.close()


@pytest.fixture
def unresolvable(monkeypatch: pytest.MonkeyPatch) -> str:
    """A host name that does not resolve, without asking any DNS server."""
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host == "api.cloudflare.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "api.cloudflare.invalid"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (cf_reset_mid_body(), "the connection to the Cloudflare API broke before it answered"),
        (
            cf_raw(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>"),
            "unexpected response from the API (HTTP 503)",
        ),
        (
            cf_raw(200, b'{"success": true, "data": {"message": "Stopped', "application/json"),
            "unexpected response from the API (HTTP 200)",
        ),
        (
            cf_raw(
                200,
                b'{"success":true,"data":{"message":"' + b"x" * 1_500_000 + b'"}}',
                "application/json",
            ),
            "unexpected response from the API (HTTP 200, body over 1 MB)",
        ),
    ],
    # A long 429 is not here: it pauses every call after it (test_queue.py).
    ids=["reset-mid-body", "html-5xx", "malformed-json", "over-1mb"],
)
async def test_upstream_fault_gets_one_specific_message_and_the_bot_stays_healthy(
    bot: RunningBot, cloudflare: FakeCloudflare, answer: object, expected: str
) -> None:
    cloudflare.default = answer  # type: ignore[assignment]
    await bot.command(MEETING, response="fault")
    [outcome] = await in_channel_outcomes(bot, "fault")
    assert expected in str(outcome["text"])
    assert "<html>" not in str(outcome["text"])
    cloudflare.default = cf_json(200, {"success": True, "data": {"message": "ok again"}})
    await bot.command(MEETING, response="after")
    [after] = await in_channel_outcomes(bot, "after")
    assert "ok again" in str(after["text"])
    await assert_healthy(bot, cloudflare)
    assert len(bot.slack.responses("fault")) == 2  # "Stopping…" and the one outcome


async def test_connect_timeout_is_reported(
    start_bot: StartBot, backlog_full: int, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(
        CLOUDFLARE_API_BASE_URL=f"http://127.0.0.1:{backlog_full}/client/v4",
        CLOUDFLARE_TIMEOUT_SECONDS="0.2",
    )
    await bot.command(MEETING, response="fault")
    [outcome] = await in_channel_outcomes(bot, "fault")
    assert "could not reach the Cloudflare API (connecting timed out)" in str(outcome["text"])
    await assert_healthy(bot, cloudflare)


async def test_unresolvable_host_is_reported(
    start_bot: StartBot, unresolvable: str, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(CLOUDFLARE_API_BASE_URL=f"https://{unresolvable}/client/v4")
    await bot.command(MEETING, response="fault")
    [outcome] = await in_channel_outcomes(bot, "fault")
    assert "could not reach the Cloudflare API (its host name did not resolve)" in str(
        outcome["text"]
    )
    await assert_healthy(bot, cloudflare)


def status(code: int) -> object:
    async def answer(_: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text="no")

    return answer


async def test_response_url_5xx_then_ok_is_retried_until_it_lands(
    bot: RunningBot, slack: FakeSlack, logs: LogWatch
) -> None:
    slack.response_answers.extend([status(503), status(500)])  # type: ignore[list-item]
    await bot.command(MEETING)
    replies = await slack.wait_responses(3, "cmd")
    assert "Stopping" in replies[0]["text"] and replies[0] == replies[1]
    await bot.slack.recorder.wait_for(
        lambda _: any(r.get("response_type") == "in_channel" for r in slack.responses("cmd"))
    )
    assert not [r for r in logs.audit() if r["event"] == "reply_failed"]


async def test_response_url_that_keeps_failing_is_audited(
    bot: RunningBot, slack: FakeSlack, logs: LogWatch
) -> None:
    slack.response_answers.extend([status(500)] * 6)  # type: ignore[list-item]
    await bot.command(MEETING)
    await logs.wait_for(lambda w: sum(r["event"] == "reply_failed" for r in w.audit()) == 2)
    failed = [r for r in logs.audit() if r["event"] == "reply_failed"]
    assert failed[-1]["error"] == "HTTP 500"
    stop = next(r for r in logs.audit() if r["event"] == "stop")
    assert failed[-1]["request_id"] == stop["request_id"]
    assert len(slack.responses("cmd")) == 6  # two replies, three tries each


async def test_response_url_that_times_out_is_not_posted_twice_and_is_audited(
    start_bot: StartBot, slack: FakeSlack, logs: LogWatch
) -> None:
    bot = await start_bot(SLACK_TIMEOUT_SECONDS="0.2", ALLOWED_USER_IDS="U0ALLOWED")
    hang = slack.release

    async def never(_: web.Request) -> web.StreamResponse:
        await hang.wait()
        return web.Response(text="late")

    slack.response_answers.extend([never] * 6)
    await bot.command(MEETING)
    await logs.wait_for(
        lambda w: sum(r["event"] == "reply_failed" for r in w.audit()) == 2, timeout=15
    )
    assert {r["error"] for r in logs.audit() if r["event"] == "reply_failed"} == {"TimeoutError"}
    # Slack may have accepted a post that timed out: one try each, never a second copy.
    assert len(slack.responses("cmd")) == 2


async def test_response_url_404_is_not_retried_and_is_audited(
    bot: RunningBot, slack: FakeSlack, logs: LogWatch
) -> None:
    slack.response_answers.extend([status(404)] * 2)  # type: ignore[list-item]
    await bot.command(MEETING)
    await logs.wait_for(lambda w: sum(r["event"] == "reply_failed" for r in w.audit()) == 2)
    assert len(slack.responses("cmd")) == 2


async def test_chat_post_message_rate_limit_honours_retry_after(
    bot: RunningBot, slack: FakeSlack, slack_rate_limit_waits: list[float]
) -> None:
    arrived: list[float] = []

    async def limited(_: web.Request) -> web.StreamResponse:
        arrived.append(time.monotonic())
        return web.json_response(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
        )

    async def posted(_: web.Request) -> web.StreamResponse:
        arrived.append(time.monotonic())
        return web.json_response({"ok": True, "channel": "C0WF", "ts": "1.000001"})

    slack.answer_api("chat.postMessage", limited, posted)
    await bot.step(
        {
            "meeting_id": MEETING,
            "user_context": payloads.user_context("U0ALLOWED"),
            "channel_id": "C0WF",
        }
    )
    await slack.wait_calls("chat.postMessage", 2)
    await slack.wait_calls("functions.completeSuccess")
    assert len(arrived) == 2
    assert [int(wait) for wait in slack_rate_limit_waits] == [1]  # the retry waited Retry-After


async def test_unexpected_exception_gives_a_reference_and_the_bot_stays_up(
    bot: RunningBot,
    slack: FakeSlack,
    logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
    cloudflare: FakeCloudflare,
) -> None:
    async def explode(self: RealtimeKitClient, meeting_id: str) -> None:
        raise RuntimeError("internal-detail-xyz")

    monkeypatch.setattr(RealtimeKitClient, "stop_livestream", explode)
    await bot.command(MEETING)
    [_, reply] = await slack.wait_responses(2, "cmd")
    assert "Traceback" not in reply["text"] and "internal-detail-xyz" not in reply["text"]
    assert "Something went wrong (ref: " in reply["text"]
    ref = reply["text"].split("(ref: ")[1].split(")")[0]
    assert any(
        ref in r.getMessage() and r.exc_text and "internal-detail-xyz" in r.exc_text
        for r in logs.records
    )

    monkeypatch.undo()
    await bot.command(MEETING, response="after")
    [_, after] = await slack.wait_responses(2, "after")
    assert "Stopped live stream successfully" in after["text"]
