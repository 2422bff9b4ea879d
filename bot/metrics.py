"""Prometheus metrics: what an operator graphs and alerts on.

    stop_livestream_bot_stops_total{door,outcome}      stop attempts that were allowed
                                                       (outcome as in the audit line)
    stop_livestream_bot_denials_total{reason}          refusals: not_allowed, rate_limited...
    stop_livestream_bot_invalid_requests_total{reason} malformed requests (not_a_meeting_id...)
    stop_livestream_bot_replies_failed_total{via}      replies Slack never got
    stop_livestream_bot_api_request_seconds{method}    one HTTP request to the RealtimeKit API
    stop_livestream_bot_api_requests_in_flight         requests to it under way now
    stop_livestream_bot_ack_seconds{mode}              receiving a Slack request to answering it
    stop_livestream_bot_state_store_errors_total       shared-state calls that failed or timed out
    stop_livestream_bot_stop_all_batches_total{outcome} stop-all batches, by how they ended

The metrics live in prometheus_client's default registry, created once when this module
is first imported, so several bots in one process (as in the tests) share them instead of
registering them twice. Nothing here knows Slack. Counts come from the audit trail (`count_audit`, called by
bot.audit.write for every line), so no door carries metrics code."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

NAMESPACE = "stop_livestream_bot"
EVENTS_PATH = "/slack/events"

Health = Callable[[], Mapping[str, object]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STOPS = Counter(
    "stops", "Stop attempts that were allowed, by door and outcome.", ["door", "outcome"],
    namespace=NAMESPACE,
)  # fmt: skip
DENIALS = Counter(
    "denials", "Requests refused (stops and status lookups), by reason.", ["reason"],
    namespace=NAMESPACE,
)  # fmt: skip
INVALID = Counter(
    "invalid_requests", "Malformed requests, by problem.", ["reason"], namespace=NAMESPACE
)
REPLIES_FAILED = Counter(
    "replies_failed", "Replies that could not be delivered to Slack after retries.", ["via"],
    namespace=NAMESPACE,
)  # fmt: skip
API_SECONDS = Histogram(
    "api_request_seconds", "One HTTP request to the RealtimeKit API (each try counts).",
    ["method"], namespace=NAMESPACE,
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0),
)  # fmt: skip
API_IN_FLIGHT = Gauge(
    "api_requests_in_flight", "Requests to the RealtimeKit API under way now.",
    namespace=NAMESPACE,
)  # fmt: skip
ACK_SECONDS = Histogram(
    "ack_seconds", "From receiving a Slack request to answering it (Slack allows 3 s).",
    ["mode"], namespace=NAMESPACE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)  # fmt: skip
STATE_ERRORS = Counter(
    "state_store_errors", "Calls to the shared state store that failed or timed out.",
    namespace=NAMESPACE,
)  # fmt: skip
STOP_ALL_BATCHES = Counter(
    "stop_all_batches", "Stop-all batches, by how they ended.", ["outcome"],
    namespace=NAMESPACE,
)  # fmt: skip


def count_audit(event: str, fields: Mapping[str, Any]) -> None:
    """Count one audit line: allowed stops by door and outcome, denials and invalid
    requests by reason, failed replies by channel. Never raises."""
    try:
        decision = fields.get("decision")
        if event == "stop_all" and decision in ("allowed", "already_running"):
            outcome = fields.get("outcome") if decision == "allowed" else decision
            STOP_ALL_BATCHES.labels(str(outcome or "finished")).inc()
        elif event == "reply_failed":
            REPLIES_FAILED.labels(str(fields.get("via") or "unknown")).inc()
        elif decision == "denied":
            DENIALS.labels(str(fields.get("reason") or "unknown")).inc()
        elif decision == "invalid":
            INVALID.labels(str(fields.get("reason") or "unknown")).inc()
        elif event == "stop" and decision in ("allowed", "error"):
            STOPS.labels(str(fields.get("door")), str(fields.get("outcome") or decision)).inc()
    except Exception:  # a metric must never cost an audit line or a stop
        log.exception("could not count an audit line in the metrics")


async def serve_metrics(request: web.Request) -> web.Response:
    """GET /metrics: the registry in the text format the scraper asks for."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(REGISTRY), headers={"Content-Type": content_type})


@web.middleware
async def time_acks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every answer to POST /slack/events (what Slack waits for)."""
    if request.path != EVENTS_PATH:
        response: web.StreamResponse = await handler(request)
        return response
    with ACK_SECONDS.labels("http").time():
        response = await handler(request)
    return response


async def start_server(port: int, health: Health, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve GET /metrics and GET /healthz on `port` (Socket Mode has no HTTP server of
    its own); cleanup() the runner to stop. An aiohttp site in the bot's own event loop
    rather than prometheus_client's start_http_server, which runs a thread with its own
    server: this one stops with the bot and cannot block it."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(dict(health()))

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("metrics on http://%s:%s/metrics", host, port)
    return runner
