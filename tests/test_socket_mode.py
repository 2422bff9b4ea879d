"""Socket Mode: envelopes over a local WebSocket, acked, then handled end to end."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from bot.config import load_settings
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.server import serve_socket
from tests.conftest import ALLOWED, MEETING, STOP_PATH
from tests.fakes import payloads


@pytest.fixture
async def socket_bot(env: dict[str, str], slack: FakeSlack) -> AsyncIterator[None]:
    """The bot connected in Socket Mode to the fake Slack."""
    settings = dataclasses.replace(
        load_settings(env, "socket"), cloudflare_retry_backoff_seconds=0.01
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve_socket(settings, stop))
    await asyncio.wait_for(slack.socket_connected.wait(), 10)
    yield
    stop.set()
    await asyncio.wait_for(task, 30)
    assert task.exception() is None


async def acks(slack: FakeSlack, count: int) -> set[str]:
    return {
        (await asyncio.wait_for(slack.socket_messages.get(), 5))["envelope_id"]
        for _ in range(count)
    }


async def test_slash_command_over_socket_mode_end_to_end(
    socket_bot: None, env: dict[str, str], slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    [opened] = slack.calls("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {env['SLACK_APP_TOKEN']}"
    command = payloads.slash_command(MEETING, ALLOWED, slack.response_url("sock"))
    await slack.send_envelope(
        {
            "envelope_id": "env-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": command,
        }
    )
    assert await acks(slack, 1) == {"env-1"}
    _, outcome = await slack.wait_responses(2, "sock")
    assert outcome["response_type"] == "in_channel"
    assert "Stopped live stream successfully" in outcome["text"]
    assert [c.path for c in cloudflare.stop_calls] == [STOP_PATH]


async def test_button_and_workflow_step_over_socket_mode(
    socket_bot: None, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    click = payloads.button_click(MEETING, ALLOWED, slack.response_url("btn"))
    await slack.send_envelope({"envelope_id": "env-2", "type": "interactive", "payload": click})
    step = payloads.function_executed(
        {"meeting_id": MEETING, "user_context": payloads.user_context(ALLOWED)}
    )
    await slack.send_envelope({"envelope_id": "env-3", "type": "events_api", "payload": step})
    assert await acks(slack, 2) == {"env-2", "env-3"}
    [outcome] = await slack.wait_responses(1, "btn")
    assert outcome["response_type"] == "in_channel"
    await slack.wait_calls("functions.completeSuccess")
    assert len(cloudflare.stop_calls) >= 1
