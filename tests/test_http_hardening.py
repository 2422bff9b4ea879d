"""HTTP mode against hostile clients: unsigned junk is refused before anything parses
it and never logged, slow or silent connections are closed, running out of file
descriptors is one line, and nothing new starts after SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import os
import re
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import aiohttp
import pytest

from bot.config import load_settings
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.server import serve_http
from tests.conftest import (
    ALLOWED,
    MEETING,
    SIGNING_SECRET,
    LogWatch,
    RunningBot,
    Spawn,
)
from tests.fakes import payloads

FORM = "application/x-www-form-urlencoded"
OTHER_MEETING = "0b1e7c3a-5d2f-4e6a-9b8c-7d6e5f4a3b2c"
# In every hostile body, so a test can prove no part of one reached the log.
MARK = "FORGED-7c1d"
REJECTED = "not signed with our signing secret"
CLOSED_SLOW = "did not deliver a request within the read deadline"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Served:
    """serve_http with short deadlines, its stop event and its report clock."""

    bot: RunningBot
    port: int
    stop: asyncio.Event
    clock: FakeClock


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(env: dict[str, str], slack: FakeSlack) -> AsyncIterator[Serve]:
    """Start the real HTTP server in this loop; keywords go to serve_http."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []
    session = aiohttp.ClientSession()

    async def start(read_timeout: float = 0.5, keepalive_timeout: float = 30.0) -> Served:
        settings = dataclasses.replace(
            load_settings(env, "http"),
            cloudflare_retry_backoff_seconds=0.01,
            slack_retry_backoff_seconds=0.01,
        )
        stop = asyncio.Event()
        clock = FakeClock()
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            serve_http(
                settings,
                "127.0.0.1",
                0,
                stop,
                started,
                read_timeout=read_timeout,
                keepalive_timeout=keepalive_timeout,
                clock=clock,
            )
        )
        running.append((stop, task))
        await asyncio.wait([started, task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # it failed to start: show why
        port = await asyncio.wait_for(started, 1)
        return Served(RunningBot(f"http://127.0.0.1:{port}", slack, session), port, stop, clock)

    yield start
    for stop, task in running:
        stop.set()
        await asyncio.wait_for(task, 30)
    await session.close()


def signed(
    body: bytes, content_type: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's v0 headers for raw bytes (payloads.signed_headers only signs text)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + signature,
    }


async def post_raw(served: Served, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    url = served.bot.url + "/slack/events"
    async with served.bot.session.post(url, data=body, headers=headers) as r:
        return r.status, await r.read()


def deep_json(depth: int = 10_000) -> bytes:
    return b"[" * depth + b"]" * depth


def tracebacks(logs: LogWatch) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in logs.records if r.exc_info or r.exc_text]


def report_lines(logs: LogWatch, what: str) -> list[str]:
    return [line for line in logs.lines("bot.http_guard") if what in line]


async def one_response(reader: asyncio.StreamReader, within: float = 3.0) -> bytes:
    """One HTTP response with a Content-Length, leaving the connection open."""

    async def read() -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        assert length is not None
        return head + await reader.readexactly(int(length.group(1)))

    return await asyncio.wait_for(read(), within)


async def until_closed(reader: asyncio.StreamReader, within: float = 3.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), within)


# ------------------------------------------------------------------ signatures first


async def test_unsigned_junk_gets_401_without_parsing_logging_or_traceback(
    serve: Serve, logs: LogWatch, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    served = await serve()
    forged_audit = f'x\n{{"event":"stop","decision":"allowed","user_id":"{MARK}"}}'.encode()
    wrong = "not-the-signing-secret"
    cases: list[tuple[bytes, dict[str, str]]] = [
        # invalid JSON in payload=, badly signed
        (f"payload=%7B{MARK}".encode(), signed(f"payload=%7B{MARK}".encode(), FORM, secret=wrong)),
        # JSON nested 10,000 deep, unsigned
        (deep_json() + MARK.encode(), {"Content-Type": "application/json"}),
        # bytes that are not UTF-8, badly signed
        (b"\xff\xfe" + MARK.encode(), signed(b"\xff\xfe" + MARK.encode(), FORM, secret=wrong)),
        # an unknown charset
        (MARK.encode(), {**signed(MARK.encode(), FORM, secret=wrong), "Content-Type": f"{FORM}; charset=x-{MARK}"}),
        # a timestamp that is not a number
        (MARK.encode(), {**signed(MARK.encode(), FORM), "X-Slack-Request-Timestamp": MARK}),
        # a correct signature on a timestamp 10 minutes old (a replay)
        (MARK.encode(), signed(MARK.encode(), FORM, timestamp=int(time.time()) - 600)),
        # a newline forging an audit record
        (forged_audit, {"Content-Type": FORM}),
        (forged_audit, signed(forged_audit, FORM, secret=wrong)),
        # 1 MiB of it
        ((MARK + "\n").encode() * (1024 * 1024 // 12), {"Content-Type": FORM}),
    ]  # fmt: skip
    for body, headers in cases:
        assert await post_raw(served, body, headers) == (401, b"")

    assert MARK not in logs.text()
    assert tracebacks(logs) == []
    assert not [r for r in logs.records if r.name.startswith("bot.bolt")]  # Bolt never saw them
    assert len(report_lines(logs, REJECTED)) == 1
    assert [r.path for r in slack.recorder.received if not r.path.endswith("/auth.test")] == []
    assert cloudflare.stop_calls == []


async def test_rejections_are_reported_once_a_minute_with_a_count(
    serve: Serve, logs: LogWatch
) -> None:
    served = await serve()
    bad = signed(b"text=x", FORM, secret="wrong-secret")
    for _ in range(20):
        assert (await post_raw(served, b"text=x", bad))[0] == 401
    assert report_lines(logs, REJECTED) == [
        "answered 401 to requests to /slack/events not signed with our signing secret (their "
        "bodies are not logged): 1 since the last such line (latest: bad signature); at most "
        "one such line per 60 s"
    ]

    served.clock.now += 59
    assert (await post_raw(served, b"text=x", bad))[0] == 401
    assert len(report_lines(logs, REJECTED)) == 1

    served.clock.now += 2
    assert (await post_raw(served, b"text=x", {"Content-Type": FORM}))[0] == 401
    lines = report_lines(logs, REJECTED)
    assert len(lines) == 2
    assert ": 21 since the last such line (latest: no X-Slack-Request-Timestamp)" in lines[1]


async def test_signed_but_malformed_bodies_get_400_and_one_line_each_without_reaching_bolt(
    serve: Serve, logs: LogWatch, cloudflare: FakeCloudflare
) -> None:
    served = await serve()
    command = payloads.form_body(
        payloads.slash_command(MEETING, ALLOWED, served.bot.slack.response_url("cmd"))
    ).encode()
    cases: list[tuple[bytes, str, str]] = [
        (command, f"{FORM}; charset=x-unknown", "unknown charset in Content-Type"),
        (command, f"{FORM}; charset=latin-1", "charset other than UTF-8 in Content-Type"),
        (b"payload=" + quote("{not json").encode(), FORM, "not valid JSON"),
        (b"payload=" + quote('["a list"]').encode(), FORM, "JSON that is not an object"),
        (b"payload=" + quote(deep_json().decode()).encode(), FORM, "JSON nested too deeply"),
        (deep_json(), "application/json", "JSON nested too deeply"),
        (b'"a string"', "application/json", "JSON that is not an object"),
        (json.dumps({"team": 1, "type": "block_actions"}).encode(), "application/json", "fields of unexpected types"),
    ]  # fmt: skip
    for body, content_type, reason in cases:
        logs.records.clear()
        assert await post_raw(served, body, signed(body, content_type)) == (400, b"")
        assert logs.lines("bot.server") == [
            f"answered 400 to a signed request to /slack/events: {reason}"
        ]
        assert tracebacks(logs) == []
        assert not [r for r in logs.records if r.name.startswith("bot.bolt")]
    assert cloudflare.stop_calls == []

    # SignatureVerifier checks text: bytes that are not UTF-8 cannot be verified, so even
    # signed ones are refused as unsigned (Slack only sends UTF-8), unlogged, before Bolt.
    logs.records.clear()
    not_utf8 = b"\xff\xfe" + command
    assert await post_raw(served, not_utf8, signed(not_utf8, FORM)) == (401, b"")
    assert "(latest: body is not UTF-8, so its signature cannot be checked)" in report_lines(logs, REJECTED)[0]  # fmt: skip
    assert MEETING not in logs.text()
    assert tracebacks(logs) == []
    assert not [r for r in logs.records if r.name.startswith("bot.bolt")]
    assert cloudflare.stop_calls == []

    # The same command, well formed, still goes through.
    assert (await post_raw(served, command, signed(command, FORM)))[0] == 200
    await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1, 5)


async def test_a_client_gone_mid_body_leaves_no_traceback(serve: Serve, logs: LogWatch) -> None:
    served = await serve(read_timeout=5.0)
    head = "".join(f"{k}: {v}\r\n" for k, v in signed(b"x" * 1000, FORM).items())
    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n{head}\r\n".encode()
        + MARK.encode()
    )
    await writer.drain()
    writer.close()
    await logs.wait_for(lambda watch: bool(report_lines(watch, REJECTED) or tracebacks(watch)))
    assert tracebacks(logs) == []
    assert "(latest: body could not be read)" in report_lines(logs, REJECTED)[0]
    assert MARK not in logs.text()


async def test_http_that_aiohttp_cannot_parse_gets_400_and_no_traceback(
    serve: Serve, logs: LogWatch
) -> None:
    served = await serve()
    healthz = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    cases: list[tuple[bytes, bytes, list[bytes]]] = [
        # a 64 KB header line
        (b"", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n", [b"400"]),
        # a bad chunk size
        (b"", b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", [b"400"]),
        # not HTTP at all: as the first request, and after a good one
        (b"", MARK.encode() + b"\r\n\r\n", [b"400"]),
        (healthz, MARK.encode() + b"\r\n\r\n", [b"200", b"400"]),
    ]  # fmt: skip
    for first, hostile, statuses in cases:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        answer = b""
        if first:
            writer.write(first)
            answer = await one_response(reader)
        writer.write(hostile)
        answer += await until_closed(reader)
        writer.close()
        assert re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer) == statuses
    assert tracebacks(logs) == []
    assert MARK not in logs.text()
    assert len(report_lines(logs, "not valid HTTP")) == 1


# ------------------------------------------------------------------ slow and silent


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float = 0.05) -> None:
    """Send `data` a byte at a time, as a slow client would, until the server hangs up."""
    for byte in data:
        if writer.is_closing():
            return
        writer.write(bytes([byte]))
        try:
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every)  # the pace of the attack, not a wait for an event


async def test_connections_that_do_not_deliver_a_request_in_time_are_closed(
    serve: Serve, logs: LogWatch
) -> None:
    served = await serve(read_timeout=0.5, keepalive_timeout=30.0)
    opened = time.monotonic()
    silent = await asyncio.open_connection("127.0.0.1", served.port)
    half_line = await asyncio.open_connection("127.0.0.1", served.port)
    half_line[1].write(b"GET /heal")
    slow_headers = await asyncio.open_connection("127.0.0.1", served.port)
    sender = asyncio.create_task(
        trickle(slow_headers[1], b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200)
    )

    for reader, _ in (silent, half_line, slow_headers):
        assert await until_closed(reader) == b""
    assert time.monotonic() - opened < 2.5  # the read deadline, not keepalive_timeout
    await sender
    for _, writer in (silent, half_line, slow_headers):
        writer.close()
    assert len(report_lines(logs, CLOSED_SLOW)) == 1
    assert tracebacks(logs) == []

    # A client that keeps its pace is served as before.
    async with served.bot.session.get(served.bot.url + "/healthz") as r:
        assert r.status == 200


async def test_a_body_sent_slowly_gets_408_and_the_connection_closed(
    serve: Serve, logs: LogWatch, cloudflare: FakeCloudflare
) -> None:
    served = await serve(read_timeout=0.5)
    body = payloads.form_body(
        payloads.slash_command(MEETING, ALLOWED, served.bot.slack.response_url("cmd"))
    ).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in signed(body, FORM).items())
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
    )
    sender = asyncio.create_task(trickle(writer, body))
    answer = await until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 408 ")
    await sender
    writer.close()
    assert cloudflare.stop_calls == []
    assert len(report_lines(logs, CLOSED_SLOW)) == 1
    assert tracebacks(logs) == []


async def test_an_idle_keepalive_connection_is_closed(serve: Serve) -> None:
    served = await serve(read_timeout=5.0, keepalive_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await one_response(reader)
    answered = time.monotonic()
    assert await until_closed(reader) == b""
    assert time.monotonic() - answered < 2.5  # keepalive_timeout, not the read deadline
    writer.close()


# ------------------------------------------------------------------ after SIGTERM


async def test_after_stop_a_keepalive_connection_gets_503_and_starts_nothing(
    serve: Serve, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    served = await serve(read_timeout=5.0)
    gate = asyncio.Event()
    cloudflare.then(cloudflare.gated(gate))  # a stop in flight keeps the server draining
    connections: list[object] = []
    trace = aiohttp.TraceConfig()

    async def on_connection(*args: object) -> None:
        connections.append(args)

    trace.on_connection_create_end.append(on_connection)
    raw_reader, raw_writer = await asyncio.open_connection("127.0.0.1", served.port)
    raw_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await one_response(raw_reader)).startswith(b"HTTP/1.1 200 ")

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1), trace_configs=[trace]
    ) as session:
        bot = RunningBot(served.bot.url, slack, session)
        assert (await bot.command(MEETING))[0] == 200
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1, 5)

        served.stop.set()  # what SIGTERM does
        assert await bot.command(OTHER_MEETING, response="late") == (503, "")
        assert len(connections) == 1  # the same keep-alive connection

    raw_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await until_closed(raw_reader)).startswith(b"HTTP/1.1 503 ")
    raw_writer.close()

    gate.set()  # the stop that was in flight still finishes
    replies = await slack.wait_responses(2, "cmd", within=5)
    assert "Stopped live stream successfully" in replies[-1]["text"]
    assert len(cloudflare.stop_calls) == 1
    assert slack.responses("late") == []


# ------------------------------------------------------------------ file descriptors


async def test_running_out_of_file_descriptors_is_one_line_and_healthz_recovers(
    spawn: Spawn,
) -> None:
    running = await spawn()
    proc, port = running.proc, int(running.url.rsplit(":", 1)[1])
    assert proc.stderr is not None
    stderr = proc.stderr
    reported = asyncio.Event()

    async def read_stderr() -> None:
        # All of it, all the time: a bot whose stderr pipe is full blocks on its next line.
        while line := (await stderr.readline()).decode():
            running.lines.append(line)
            if "out of file descriptors" in line:
                reported.set()

    reader = asyncio.create_task(read_stderr())
    in_use = len(os.listdir(f"/proc/{proc.pid}/fd"))
    _, hard = resource.prlimit(proc.pid, resource.RLIMIT_NOFILE)
    # Like `ulimit -n`, with three to spare: the connections below take them all and
    # the rest wait in the backlog while asyncio retries accept().
    resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (in_use + 3, hard))
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(12)]
    await asyncio.wait_for(reported.wait(), 10)

    for _, writer in held:
        writer.close()
    # Waits in the backlog until the held connections are gone: more failed accept()
    # calls meanwhile, each of which used to log a traceback.
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(running.url + "/healthz") as r,
    ):
        assert r.status == 200

    proc.terminate()
    await asyncio.wait_for(reader, 30)
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    log = "".join(running.lines)
    assert "Traceback" not in log
    assert "socket.accept() out of system resource" not in log  # asyncio's own report
    assert 1 <= len([line for line in running.lines if "out of file descriptors" in line]) <= 2
