"""Stop-all benchmark: how long from the press to the channel's summary post?

Starts `stop-livestream-bot http` as a subprocess against the demo's Slack and RealtimeKit
stand-ins (in this process, on 127.0.0.1 only) with N live streams, every RealtimeKit
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
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from burst import bot_env, wait_listening  # the script beside this one
from slack_sdk.signature import SignatureVerifier

from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import StandInSlack

ROOT = Path(__file__).resolve().parents[1]
USER = "U0BENCH"
CHANNEL = "C0BENCH"
LOG = Path(tempfile.gettempdir()) / "stop-all-bench.log"  # the bot's stderr


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


async def start_bot(
    rk: StandInRealtimeKit, slack: StandInSlack, secret: str, port: int, cap: int
) -> asyncio.subprocess.Process:
    env = bot_env(
        rk.port, secret, USER, cap, ALLOWED_STOP_ALL_USER_IDS=USER, SLACK_API_URL=slack.api_url
    )
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


def press_body(button: dict[str, str], slack: StandInSlack) -> str:
    """The confirmation's button, pressed."""
    press = {
        "type": "block_actions",
        "team": {"id": "T0B"},
        "user": {"id": USER},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "channel_id": CHANNEL, "is_ephemeral": True},
        "response_url": slack.response_url("press"),
        "actions": [{"action_id": button["action_id"], "value": button["value"], "type": "button"}],
    }
    return urlencode({"payload": json.dumps(press)})


async def run(n: int, delay: float, cap: int, window: float) -> dict[str, float | int]:
    rk, slack = StandInRealtimeKit(), StandInSlack()
    rk.page_limit, rk.delay = 100, delay  # pages as the bot asks for them
    rk.go_live(n)
    await rk.start()
    await slack.start()
    secret = secrets.token_hex(16)
    port = free_port()
    proc = await start_bot(rk, slack, secret, port, cap)
    url = f"http://127.0.0.1:{port}/slack/events"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            command = {
                "team_id": "T0B", "channel_id": CHANNEL, "user_id": USER,
                "command": "/stop-livestream", "text": "all", "trigger_id": "1.2.3",
                "response_url": slack.response_url("confirm"),
            }  # fmt: skip
            await post(session, url, secret, urlencode(command))
            [confirmation] = await slack.wait_responses(1, "confirm", window)
            blocks = confirmation.get("blocks")
            assert isinstance(blocks, list)
            [button] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
            rk.peak = 0  # count the press's calls only
            calls_before = len(rk.recorder.received)
            started = time.monotonic()
            await post(session, url, secret, press_body(button, slack))
            try:
                [summary] = await slack.wait_calls("chat.postMessage", 1, window)
            except TimeoutError:
                raise RuntimeError(f"no summary within {window} s; see {LOG}") from None
            elapsed = summary.at - started
            with suppress(TimeoutError):  # a second post? (none)
                await slack.wait_calls("chat.postMessage", 2, 0.2)
        bot_cpu = cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        await rk.close()
        await slack.close()
    stop_times = [r.at for r in rk.stop_calls]
    ideal = n / cap * delay
    return {
        "n": n,
        "delay": delay,
        "cap": cap,
        "ideal": ideal,
        "elapsed": elapsed,
        "ratio": elapsed / ideal if ideal else float("nan"),
        "peak": rk.peak,
        "stopped": sum(rk.stopped.values()),
        "stopped_twice": sum(1 for c in rk.stopped.values() if c > 1),
        "left_live": len(rk.live),
        "api_calls": len(rk.recorder.received) - calls_before,
        "summary_posts": len(slack.calls("chat.postMessage")),
        "bot_cpu_s": bot_cpu,
        "list_s": stop_times[0] - started if stop_times else float("nan"),
        "stops_s": stop_times[-1] + delay - stop_times[0] if stop_times else 0,
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
