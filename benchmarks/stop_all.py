"""Stop-all benchmark: how long from the press to the channel's summary post?

Starts `stop-livestream-bot http` as a subprocess against a fake Slack and a fake
RealtimeKit app (in this process, on 127.0.0.1 only) with N live streams, every API
call answering after D seconds. It asks for the confirmation (`/stop-livestream all`),
presses its button, and times the press to the summary post against the ideal for the
cap, N / cap x D (cap = CLOUDFLARE_MAX_CONCURRENCY), and the most API calls in flight at
any moment. Target: within 1.5x the ideal, never more than the cap in flight.

Run: uv run python benchmarks/stop_all.py [-n 1000] [--delay 0.2] [--cap 50] [--window 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from burst import bot_env, wait_listening  # the script beside this one
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
USER = "U0BENCH"
CHANNEL = "C0BENCH"
LOG = Path(tempfile.gettempdir()) / "stop-all-bench.log"  # the bot's stderr


def meeting_id(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


@dataclass
class Fakes:
    """Slack (auth.test, chat.postMessage, response_urls) and RealtimeKit (the live
    list and stop, each answering after `delay`), counting API calls in flight."""

    n: int
    delay: float
    live: dict[str, str] = field(default_factory=dict)
    stopped: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    peak: int = 0
    api_calls: int = 0
    responses: list[dict[str, object]] = field(default_factory=list)
    summaries: list[tuple[float, dict[str, object]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    stop_times: list[float] = field(default_factory=list)  # when each stop arrived
    list_times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.live = {meeting_id(i): f"Stream {i}" for i in range(1, self.n + 1)}

    async def start(self) -> web.AppRunner:
        app = web.Application()
        kit = "/client/v4/accounts/{a}/realtime/kit/{b}"
        app.router.add_get(kit + "/livestreams", self.list_live)
        app.router.add_post(kit + "/meetings/{meeting}/active-livestream/stop", self.stop)
        app.router.add_post("/api/{method}", self.slack_api)
        app.router.add_post("/response/{name}", self.response)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=4096).start()
        self.port = int(runner.addresses[0][1])
        return runner

    async def wait(self, done: object, within: float) -> bool:
        """Wait until `done()` holds or `within` s pass; True if it holds."""
        deadline = time.perf_counter() + within
        while not done():  # type: ignore[operator]
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), deadline - time.perf_counter())
            except TimeoutError:
                return False
        return True

    async def _api(self) -> None:
        self.api_calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1

    async def list_live(self, request: web.Request) -> web.Response:
        self.list_times.append(time.perf_counter())
        await self._api()
        per_page = int(request.query.get("per_page", "20"))
        page_no = int(request.query.get("page_no", "1"))
        order = list(reversed(self.live))
        start = (page_no - 1) * per_page
        items = [
            {"id": f"ls-{m[:8]}", "meeting_id": m, "name": self.live[m], "status": "LIVE"}
            for m in order[start : start + per_page]
        ]
        paging = {
            "start_offset": start,
            "end_offset": start + len(items),
            "total_count": len(order),
        }
        return web.json_response({"success": True, "data": items, "paging": paging})

    async def stop(self, request: web.Request) -> web.Response:
        meeting = request.match_info["meeting"]
        self.stop_times.append(time.perf_counter())
        await self._api()
        if self.live.pop(meeting, None) is None:
            error = {"code": 404, "message": "No active livestream found for this meeting"}
            return web.json_response({"success": False, "error": error}, status=404)
        self.stopped[meeting] = self.stopped.get(meeting, 0) + 1
        return web.json_response({"success": True, "data": {"message": "Stopped"}})

    async def slack_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        if method == "chat.postMessage":
            self.summaries.append((time.perf_counter(), json.loads(body)))
            self.changed.set()
            return web.json_response({"ok": True, "channel": CHANNEL, "ts": "1.1"})
        return web.json_response(
            {"ok": True, "team": "Bench", "user": "bot", "team_id": "T0B", "user_id": "U0BOT"}
        )

    async def response(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        self.changed.set()
        return web.Response(text="ok")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_bot(fakes: Fakes, secret: str, port: int, cap: int) -> asyncio.subprocess.Process:
    env = bot_env(fakes.port, secret, USER, cap, ALLOWED_STOP_ALL_USER_IDS=USER)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *os.environ.get("BENCH_PY_ARGS", "").split(),
        "-m", "bot", "http", "--host", "127.0.0.1", "--port", str(port),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=LOG.open("w"),
    )  # fmt: skip
    await wait_listening(proc, port, f"the bot (log: {LOG})")
    return proc


async def post(session: aiohttp.ClientSession, url: str, secret: str, body: str) -> None:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature or "",
    }
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"the bot answered HTTP {response.status}")


async def run(n: int, delay: float, cap: int, window: float) -> dict[str, float | int]:
    fakes = Fakes(n, delay)
    runner = await fakes.start()
    secret = secrets.token_hex(16)
    port = free_port()
    proc = await start_bot(fakes, secret, port, cap)
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            command = {
                "team_id": "T0B", "channel_id": CHANNEL, "user_id": USER,
                "command": "/stop-livestream", "text": "all", "trigger_id": "1.2.3",
                "response_url": f"http://127.0.0.1:{fakes.port}/response/confirm",
            }  # fmt: skip
            await post(session, url, secret, urlencode(command))
            if not await fakes.wait(lambda: fakes.responses, window):
                raise RuntimeError("no confirmation")
            blocks = fakes.responses[0].get("blocks")
            assert isinstance(blocks, list)
            [button] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
            fakes.peak = 0  # count the press's calls only
            fakes.stop_times.clear()
            calls_before = fakes.api_calls
            press = {
                "type": "block_actions",
                "team": {"id": "T0B"},
                "user": {"id": USER},
                "channel": {"id": CHANNEL},
                "container": {"type": "message", "channel_id": CHANNEL, "is_ephemeral": True},
                "response_url": f"http://127.0.0.1:{fakes.port}/response/press",
                "actions": [
                    {"action_id": button["action_id"], "value": button["value"], "type": "button"}
                ],
            }
            started = time.perf_counter()
            await post(session, url, secret, urlencode({"payload": json.dumps(press)}))
            if not await fakes.wait(lambda: fakes.summaries, window):
                raise RuntimeError(f"no summary within {window} s; see {LOG}")
            elapsed = fakes.summaries[0][0] - started
            await fakes.wait(lambda: len(fakes.summaries) > 1, 0.2)  # a second post? (none)
        bot_cpu = cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        await runner.cleanup()
    ideal = n / cap * delay
    return {
        "n": n,
        "delay": delay,
        "cap": cap,
        "ideal": ideal,
        "elapsed": elapsed,
        "ratio": elapsed / ideal if ideal else float("nan"),
        "peak": fakes.peak,
        "stopped": sum(fakes.stopped.values()),
        "stopped_twice": sum(1 for c in fakes.stopped.values() if c > 1),
        "left_live": len(fakes.live),
        "api_calls": fakes.api_calls - calls_before,
        "summary_posts": len(fakes.summaries),
        "bot_cpu_s": bot_cpu,
        "list_s": fakes.stop_times[0] - started if fakes.stop_times else float("nan"),
        "stops_s": fakes.stop_times[-1] + delay - fakes.stop_times[0] if fakes.stop_times else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="live streams (default 1000)")
    parser.add_argument("--delay", type=float, default=0.2, help="API answer time, s")
    parser.add_argument("--cap", type=int, default=50, help="CLOUDFLARE_MAX_CONCURRENCY")
    parser.add_argument("--window", type=float, default=60.0, help="give up after, s")
    args = parser.parse_args()
    r = asyncio.run(run(args.n, args.delay, args.cap, args.window))
    print(
        "| N | D (s) | cap | ideal N/cap x D (s) | press -> summary (s) | ratio | "
        "peak in flight | stopped | stopped twice | left live | API calls | summary posts |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {r['n']} | {r['delay']:g} | {r['cap']} | {r['ideal']:.2f} | {r['elapsed']:.2f} | "
        f"{r['ratio']:.2f} | {r['peak']} | {r['stopped']} | {r['stopped_twice']} | "
        f"{r['left_live']} | {r['api_calls']} | {r['summary_posts']} |"
    )
    print(
        f"press -> first stop (the live list read): {r['list_s']:.2f} s; "
        f"first stop -> last stop answered: {r['stops_s']:.2f} s; "
        f"the bot's CPU time since it started: {r['bot_cpu_s']:.2f} s"
    )
    ok = r["ratio"] <= 1.5 and r["peak"] <= r["cap"]
    print(
        f"target (within 1.5x the ideal, at most {r['cap']} in flight): {'met' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
