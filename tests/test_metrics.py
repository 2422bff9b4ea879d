"""Prometheus metrics: GET /metrics in HTTP mode, METRICS_PORT in Socket Mode, and the
counters moving with what the bot does. The registry is the process's own, shared by
every bot a test starts here, so each test compares before and after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import load_settings
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.server import serve_socket
from tests.conftest import ALLOWED, MEETING, STRANGER, RunningBot, StartBot, free_port
from tests.fakes import payloads

NS = "stop_livestream_bot_"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> tuple[str, Samples]:
    """GET `url`/metrics: its text and every sample, by name and labels."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((NS + name, frozenset(labels.items())), 0.0)


async def test_metrics_count_a_stop_a_denial_the_api_call_and_the_acks(
    bot: RunningBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    _, before = await scrape(bot.url)
    await bot.command(MEETING, ALLOWED, response="ok")
    await bot.command(MEETING, STRANGER, response="no")
    await slack.wait_responses(2, "ok")
    await slack.wait_responses(1, "no")
    _, after = await scrape(bot.url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("stops_total", door="command", outcome="stopped") == 1
    assert moved("denials_total", reason="not_allowed") == 1
    assert moved("api_request_seconds_count", method="POST") == 1
    assert value(after, "api_requests_in_flight") == 0
    assert moved("ack_seconds_count", mode="http") == 2
    assert value(after, "ack_seconds_bucket", mode="http", le="3.0") == value(
        after, "ack_seconds_count", mode="http"
    )


async def test_metrics_define_the_store_errors_and_stop_all_batches(
    start_bot: StartBot,
) -> None:
    _, before = await scrape((await start_bot()).url)
    closed = f"redis://127.0.0.1:{free_port()}/0"
    down = await start_bot(STATE_URL=closed)  # its first PING fails
    text, after = await scrape(down.url)
    assert f"# TYPE {NS}stop_all_batches_total counter" in text
    errors = NS + "state_store_errors_total"
    assert after[(errors, frozenset())] >= before.get((errors, frozenset()), 0.0) + 1


@pytest.fixture
async def socket_bot_with_metrics(env: dict[str, str], slack: FakeSlack) -> AsyncIterator[str]:
    """The bot in Socket Mode with METRICS_PORT set; yields the metrics base URL."""
    port = free_port()
    settings = load_settings({**env, "METRICS_PORT": str(port)}, "socket")
    stop = asyncio.Event()
    started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_socket(settings, stop, started))
    await asyncio.wait_for(started, 10)
    yield f"http://127.0.0.1:{port}"
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_socket_mode_serves_metrics_and_health_on_metrics_port(
    socket_bot_with_metrics: str, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    url = socket_bot_with_metrics
    _, before = await scrape(url)
    command = payloads.slash_command(MEETING, ALLOWED, slack.response_url("sock"))
    await slack.send_envelope(
        {"envelope_id": "env-1", "type": "slash_commands", "payload": command}
    )
    await slack.wait_responses(2, "sock")
    _, after = await scrape(url)
    assert value(after, "ack_seconds_count", mode="socket") == (
        value(before, "ack_seconds_count", mode="socket") + 1
    )
    assert (
        value(after, "stops_total", door="command", outcome="stopped")
        == value(before, "stops_total", door="command", outcome="stopped") + 1
    )
    async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["ok"] is True
