"""Burst benchmark: does the bot hold Slack's 3-second ack deadline under load?

Starts each target as a subprocess against fake Slack and fake RealtimeKit servers on
127.0.0.1 (in this process), fires N signed slash commands at once, and prints one
table with ratios to the floor:

- bot:   `stop-livestream-bot http` (this project);
- sync:  a synchronous Bolt App as a newcomer would write it (ack, blocking httpx.post,
         respond), on Bolt's built-in server;
- floor: a few-line aiohttp handler with no framework and no checks: what the harness
         itself costs on this machine.

Run: uv run python benchmarks/burst.py [-n N ...] [--delay D] [--only bot,floor]

For profiling the bot: BENCH_PY_ARGS="-m cProfile -o prof.out" runs it under cProfile,
BENCH_LOG_LEVEL=DEBUG sets its LOG_LEVEL; each target's stderr goes to
<tmp>/burst-<target>.log.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import secrets
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "0123456789abcdef0123456789abcdef"
APP_ID = "bench-app"
USERS = [f"U0BENCH{i:02d}" for i in range(20)]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEADLINE = 3.0
TARGETS = ("bot", "sync", "floor")
LOG_DIR = Path(tempfile.gettempdir())  # each target's stderr: burst-<target>.log


@dataclass
class Fakes:
    """Fake Slack (auth.test, response_urls) and fake RealtimeKit (stop, after a delay)."""

    delay: float = 1.5
    api_calls: int = 0
    api_peers: set[tuple[str, int]] = field(default_factory=set)
    posts: dict[str, float] = field(default_factory=dict)  # meeting -> first in_channel post
    port: int = 0
    posted: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_posts(self, done: Callable[[], bool], within: float) -> None:
        """Wait until `done()` holds after some post, or `within` s pass."""
        deadline = time.perf_counter() + within
        while not done():
            self.posted.clear()
            try:
                await asyncio.wait_for(self.posted.wait(), deadline - time.perf_counter())
            except TimeoutError:
                return

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/api/{method}", self.slack_api)
        app.router.add_post("/response/{meeting}", self.response)
        app.router.add_post(
            "/client/v4/accounts/{a}/realtime/kit/{b}/meetings/{meeting}/active-livestream/stop",
            self.stop,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=4096).start()
        self.port = int(runner.addresses[0][1])
        return runner

    def reset(self) -> None:
        self.api_calls = 0
        self.api_peers = set()
        self.posts = {}

    async def slack_api(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(
            {
                "ok": True,
                "team": "Bench",
                "user": "bot",
                "team_id": "T0B",
                "user_id": "U0BOT",
                "bot_id": "B0",
            }
        )

    async def response(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("response_type") == "in_channel":
            self.posts.setdefault(request.match_info["meeting"], time.perf_counter())
            self.posted.set()
        return web.Response(text="ok")

    async def stop(self, request: web.Request) -> web.Response:
        self.api_calls += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.api_peers.add((str(peer[0]), int(peer[1])))
        await asyncio.sleep(self.delay)
        return web.json_response(
            {"success": True, "data": {"message": "Stopped live stream successfully"}}
        )


@dataclass
class Run:
    target: str
    n: int
    delay: float
    acks: list[float]
    failed: int
    answered: int
    api_calls: int
    api_connections: int
    overheads: list[float]
    rss_mb: float | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def start_target(
    target: str, fakes: Fakes, secret: str, port: int, concurrency: int
) -> asyncio.subprocess.Process:
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")},
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": secret,
        "CLOUDFLARE_API_TOKEN": "bench-token",
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "REALTIMEKIT_APP_ID": APP_ID,
        "ALLOWED_USER_IDS": ",".join(USERS),
        "CLOUDFLARE_API_BASE_URL": f"http://127.0.0.1:{fakes.port}/client/v4",
        "SLACK_API_URL": f"http://127.0.0.1:{fakes.port}/api/",
        "RATE_LIMIT_PER_USER_PER_MINUTE": "0",
        "CLOUDFLARE_MAX_CONCURRENCY": str(concurrency),
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    }
    if target == "bot":
        args = [
            *os.environ.get("BENCH_PY_ARGS", "").split(),
            "-m",
            "bot",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    else:
        args = [
            str(ROOT / "benchmarks" / f"ref_{'sync_bolt' if target == 'sync' else 'floor'}.py"),
            str(port),
        ]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=LOG_DIR.joinpath(f"burst-{target}.log").open("w"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until it accepts connections
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return proc
        except OSError:
            if proc.returncode is not None:
                raise RuntimeError(f"{target} exited with {proc.returncode}") from None
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{target} did not start listening")


async def stop_target(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def command_body(meeting: str, user: str, fakes: Fakes) -> str:
    return urlencode(
        {
            "team_id": "T0B",
            "channel_id": "C0BENCH",
            "user_id": user,
            "command": "/stop-livestream",
            "text": meeting,
            "response_url": f"http://127.0.0.1:{fakes.port}/response/{meeting}",
            "trigger_id": "1.2.3",
        }
    )


async def send(
    session: aiohttp.ClientSession, url: str, verifier: SignatureVerifier, body: str
) -> tuple[float, float, bool]:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp, body=body) or "",
    }
    start = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            ok = response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        ok = False
    return start, time.perf_counter() - start, ok


async def burst(
    target: str, n: int, delay: float, fakes: Fakes, concurrency: int, window: float
) -> Run:
    """N commands at once; wait for the replies up to `window` s after the last ack."""
    secret = secrets.token_hex(16)
    port = free_port()
    fakes.delay = delay
    proc = await start_target(target, fakes, secret, port, concurrency)
    try:
        fakes.reset()
        verifier = SignatureVerifier(secret)
        url = f"http://127.0.0.1:{port}/slack/events"
        meetings = [str(uuid.uuid4()) for _ in range(n)]
        timeout = aiohttp.ClientTimeout(total=10)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            bodies = [command_body(m, USERS[i % len(USERS)], fakes) for i, m in enumerate(meetings)]
            results = await asyncio.gather(*(send(session, url, verifier, b) for b in bodies))
        await fakes.wait_posts(lambda: len(fakes.posts) >= n, window)
        sent = {m: r[0] for m, r in zip(meetings, results, strict=True)}
        overheads = [
            (fakes.posts[m] - sent[m] - delay) * 1000 for m in meetings if m in fakes.posts
        ]
        return Run(
            target=target,
            n=n,
            delay=delay,
            acks=[r[1] * 1000 for r in results if r[2]],
            failed=sum(1 for r in results if not r[2] or r[1] > DEADLINE),
            answered=len(fakes.posts),
            api_calls=fakes.api_calls,
            api_connections=len(fakes.api_peers),
            overheads=overheads,
            rss_mb=peak_rss_mb(proc.pid),
        )
    finally:
        await stop_target(proc)


async def sequential(target: str, count: int, fakes: Fakes, concurrency: int) -> tuple[int, int]:
    """`count` stops one after another; returns (answered, API connections opened)."""
    secret = secrets.token_hex(16)
    port = free_port()
    fakes.delay = 0.0
    proc = await start_target(target, fakes, secret, port, concurrency)
    try:
        fakes.reset()
        verifier = SignatureVerifier(secret)
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)
        ) as session:
            for _ in range(count):
                meeting = str(uuid.uuid4())
                await send(session, url, verifier, command_body(meeting, USERS[0], fakes))
                await fakes.wait_posts(lambda m=meeting: m in fakes.posts, 10)
        return len(fakes.posts), len(fakes.api_peers)
    finally:
        await stop_target(proc)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def table(runs: list[Run]) -> str:
    head = (
        "| target | N | D (s) | ack p50 ms | ack p99 ms | ack max ms | acks >3s or failed | answered | "
        "API calls | API conns | overhead p50 ms | overhead p99 ms | peak RSS MB | ack p99 / floor | overhead p50 / floor |"
    )
    rows = [head, "|" + "---|" * 15]
    floors = {(r.n, r.delay): r for r in runs if r.target == "floor"}
    for r in runs:
        floor = floors.get((r.n, r.delay))
        ack99 = percentile(r.acks, 99)
        over50 = percentile(r.overheads, 50)
        ratio_ack = ack99 / percentile(floor.acks, 99) if floor and floor.acks else float("nan")
        floor_over = percentile(floor.overheads, 50) if floor else float("nan")
        ratio_over = over50 / floor_over if floor and floor_over > 0 else float("nan")
        rows.append(
            f"| {r.target} | {r.n} | {r.delay:g} | {fmt(percentile(r.acks, 50))} | {fmt(ack99)} | "
            f"{fmt(max(r.acks) if r.acks else None)} | {r.failed} | {r.answered} | {r.api_calls} | "
            f"{r.api_connections} | {fmt(over50)} | {fmt(percentile(r.overheads, 99))} | {fmt(r.rss_mb)} | "
            f"{fmt(ratio_ack, 2)} | {fmt(ratio_over, 2)} |"
        )
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-n",
        type=int,
        action="append",
        help="commands per burst (repeatable; default 1, 100, 1000)",
    )
    parser.add_argument(
        "--delay", type=float, default=1.5, help="fake API delay D in seconds (default 1.5)"
    )
    parser.add_argument(
        "--only", default=",".join(TARGETS), help="comma-separated targets (default bot,sync,floor)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=50, help="CLOUDFLARE_MAX_CONCURRENCY for the bot"
    )
    parser.add_argument(
        "--window", type=float, default=40.0, help="max seconds to wait for replies after a burst"
    )
    parser.add_argument(
        "--sequential", type=int, default=50, help="sequential stops for the reuse check (0: skip)"
    )
    args = parser.parse_args()
    targets = [t for t in args.only.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    sizes = args.n or [1, 100, 1000]

    fakes = Fakes()
    runner = await fakes.start()
    started = time.perf_counter()
    print(
        f"# {platform.node()} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}"
    )
    print(
        f"# fake API delay D = {args.delay:g} s; bot CLOUDFLARE_MAX_CONCURRENCY = {args.concurrency}"
    )
    runs: list[Run] = []
    try:
        for n in sizes:
            for target in targets:
                print(f"... {target}, N={n}", file=sys.stderr, flush=True)
                runs.append(
                    await burst(target, n, args.delay, fakes, args.concurrency, args.window)
                )
        print()
        print(table(runs))
        if args.sequential:
            print()
            print("| target | sequential stops | answered | API connections opened |")
            print("|---|---|---|---|")
            for target in targets:
                answered, connections = await sequential(
                    target, args.sequential, fakes, args.concurrency
                )
                print(f"| {target} | {args.sequential} | {answered} | {connections} |")
    finally:
        await runner.cleanup()
    print(f"\n# total time {time.perf_counter() - started:.0f} s")
    bot_runs = [r for r in runs if r.target == "bot"]
    if bot_runs:
        print(
            f"# bot median ack over all runs: {statistics.median([a for r in bot_runs for a in r.acks]):.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
