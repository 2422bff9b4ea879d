"""The console entry point as a real process: configuration errors, HTTP routes, and a
graceful SIGTERM while a stop is in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ALLOWED, MEETING, SECRETS
from tests.fakes import payloads
from tests.fakes.servers import FakeCloudflare, FakeSlack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(env: dict[str, str]) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "VIRTUAL_ENV")
    }
    return {**keep, **env, "PYTHONUNBUFFERED": "1"}


async def run_to_end(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=process_env(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_bad_configuration_exits_2_listing_every_problem_without_values(
    tmp_path: Path,
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxp-hunter2",
        "CLOUDFLARE_API_TOKEN": "cf-hunter2",
        "PYTHONPATH": str(Path.cwd()),
    }
    code, out, err = await run_to_end(["http"], env, tmp_path)
    assert code == 2
    assert "Traceback" not in err
    for name in [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "CLOUDFLARE_ACCOUNT_ID",
        "REALTIMEKIT_APP_ID",
        "ALLOWED_USER_IDS",
    ]:
        assert name in err
    assert "hunter2" not in err + out


async def test_dotenv_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\n")
    env = {"PYTHONPATH": str(Path.cwd())}
    code, _, err = await run_to_end(["socket"], env, tmp_path)
    assert code == 2
    assert "SLACK_BOT_TOKEN" not in err  # came from .env
    assert "SLACK_APP_TOKEN is not set" in err


@pytest.fixture
async def http_process(
    env: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, list[str]]]:
    port = free_port()
    full = process_env({**env, "PYTHONPATH": str(Path.cwd()), "LOG_LEVEL": "DEBUG"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "http",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=full,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[str] = []

    async def until(text: str) -> None:
        assert proc.stderr is not None
        while True:
            line = (await proc.stderr.readline()).decode()
            if not line:
                raise AssertionError(f"process ended before printing {text!r}:\n{''.join(lines)}")
            lines.append(line)
            if text in line:
                return

    await asyncio.wait_for(until("listening on"), 30)
    proc.until = until  # type: ignore[attr-defined]
    yield proc, f"http://127.0.0.1:{port}", lines
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_http_mode_serves_healthz_and_nothing_else(
    http_process: tuple[asyncio.subprocess.Process, str, list[str]],
) -> None:
    _, url, _ = http_process
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/healthz") as r:
            assert r.status == 200
            assert (await r.json())["ok"] is True
        async with session.get(url + "/admin") as r:
            assert r.status == 404
        async with session.post(url + "/slack/events", data=b"x" * (2 * 1024 * 1024)) as r:
            assert r.status == 413


async def test_sigterm_finishes_the_stop_in_flight_then_exits_0(
    http_process: tuple[asyncio.subprocess.Process, str, list[str]],
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
) -> None:
    proc, url, lines = http_process
    gate = asyncio.Event()
    cloudflare.then(cloudflare.gated(gate))
    body = payloads.form_body(payloads.slash_command(MEETING, ALLOWED, slack.response_url("cmd")))
    async with aiohttp.ClientSession() as session:
        headers = payloads.signed_headers(SECRETS[0], body, "application/x-www-form-urlencoded")
        async with session.post(url + "/slack/events", data=body, headers=headers) as r:
            assert r.status == 200
        await cloudflare.recorder.wait_for(lambda received: len(received) == 1, 10)

        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.until("no longer accepting"), 10)  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with fresh.get(url + "/healthz"):
                pass
    gate.set()
    replies = await slack.wait_responses(2, "cmd", timeout=10)
    assert replies[-1]["response_type"] == "in_channel"
    assert "Stopped live stream successfully" in replies[-1]["text"]
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    assert proc.stderr is not None
    lines.append((await proc.stderr.read()).decode())
    log = "".join(lines)
    assert "Traceback" not in log
    for secret in SECRETS:
        assert secret not in log
