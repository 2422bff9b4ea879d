"""Type-ahead benchmark: do the shortcut's options answer within Slack's 3 s, at any size?

Starts `stop-livestream-bot http` as a subprocess against the package's Slack and
RealtimeKit stand-ins (in this process, on 127.0.0.1 only) with N live streams, each with
a meeting title, every RealtimeKit read answering after D seconds. Caches start cold.

1. Keystrokes: K signed `block_suggestion` requests, one after another, `--gap` s apart
   (a person typing; the live list is cached for 5 s, so it is read again meanwhile).
   Prints the answer times, the list pages and meeting reads that arrived while each
   answer was being made (meeting reads are the titles read in the background), and how
   many of the last answer's options carry their meeting's title.
2. Search by name: a fresh bot (cold again) runs the workflow step with `meeting_name`,
   once by a stream's name, once by a meeting's title, timed to the step's completion.

Target: options p99 <= 500 ms; per keystroke no more reads than the list's pages; a
search by name finishes within 3 s.

Run: uv run python benchmarks/typeahead.py [-n 1000] [--delay 0.15] [-k 40] [--gap 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from burst import bot_env, free_port, percentile, stop_target, wait_listening  # beside this one
from slack_sdk.signature import SignatureVerifier

from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import StandInSlack

ROOT = Path(__file__).resolve().parents[1]
USER = "U0BENCH"
LOG = Path(tempfile.gettempdir()) / "typeahead-bench.log"  # the bot's stderr
SEARCH_WINDOW = 15.0  # seconds to wait for a search's end
TYPED = ["", "s", "st", "str", "stre", "strea", "stream", "stream 1", "stream 12", "stream 123"]


def meeting_id(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


class Api:
    """The RealtimeKit stand-in with N live streams, each read answering after `delay`,
    and when each list page and meeting read arrived."""

    def __init__(self, n: int, delay: float) -> None:
        self.rk = StandInRealtimeKit()
        self.rk.page_limit = 100  # the API's pages, as the bot asks for them
        for i in range(1, n + 1):
            minute, second = divmod(i, 60)
            created = f"2026-11-28T{minute // 60:02d}:{minute % 60:02d}:{second:02d}Z"
            self.rk.add(meeting_id(i), f"Stream {i}", f"Meeting title {i}", created)
        self.reads: list[tuple[str, float]] = []  # ("list" or "meeting", arrival)

        @web.middleware
        async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
            kind = "list" if request.path.endswith("/livestreams") else "meeting"
            if request.method == "GET" and "/active-livestream" not in request.path:
                self.reads.append((kind, time.perf_counter()))
            await asyncio.sleep(delay)
            response: web.StreamResponse = await handler(request)
            return response

        self.rk.app.middlewares.append(slow)

    def count(self, kind: str, start: float, end: float) -> int:
        return sum(1 for k, t in self.reads if k == kind and start <= t <= end)


async def start_bot(api: Api, slack: StandInSlack, secret: str) -> tuple[Any, str]:
    port = free_port()
    env = bot_env(
        api.rk.port, secret, USER, 50,
        SLACK_API_URL=slack.api_url, RATE_LIMIT_PER_USER_PER_MINUTE="0",
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "http", "--host", "127.0.0.1", "--port", str(port),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=LOG.open("a"),
    )  # fmt: skip
    await wait_listening(proc, port, f"the bot (log: {LOG})")
    return proc, f"http://127.0.0.1:{port}/slack/events"


async def post(
    session: aiohttp.ClientSession, url: str, secret: str, body: str, content_type: str
) -> tuple[float, float, str]:
    """Send signed; (sent at, answered at, body)."""
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature or "",
    }
    sent = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        text = await response.text()
        if response.status != 200:
            raise RuntimeError(f"the bot answered HTTP {response.status}")
    return sent, time.perf_counter(), text


def keystroke(typed: str) -> str:
    payload = {
        "type": "block_suggestion",
        "user": {"id": USER, "team_id": "T0B"},
        "team": {"id": "T0B"},
        "container": {"type": "view", "view_id": "V0BENCH"},
        "action_id": "live_stream_pick",
        "block_id": "stream",
        "value": typed,
        "view": {"id": "V0BENCH", "type": "modal", "callback_id": "stop_livestream_modal"},
    }
    return urlencode({"payload": json.dumps(payload)})


def step(name: str, execution: str) -> str:
    inputs = {"meeting_id": "", "meeting_name": name, "user_context": {"id": USER}}
    event = {
        "type": "function_executed",
        "function": {"id": "Fn0B", "callback_id": "stop_livestream", "app_id": "A0B"},
        "inputs": inputs,
        "function_execution_id": execution,
        "workflow_execution_id": "Wx0B",
        "event_ts": "1.3",
        "bot_access_token": "xwfp-bench",
    }
    return json.dumps(
        {"team_id": "T0B", "api_app_id": "A0B", "type": "event_callback",
         "event_id": f"Ev{execution}", "event_time": int(time.time()), "event": event}
    )  # fmt: skip


async def keystrokes(api: Api, slack: StandInSlack, count: int, gap: float) -> dict[str, Any]:
    secret = secrets.token_hex(16)
    proc, url = await start_bot(api, slack, secret)
    rows: list[tuple[float, int, int, int]] = []  # ms, list reads, meeting reads, options
    titled = 0
    began = time.perf_counter()
    try:
        async with aiohttp.ClientSession() as session:
            for i in range(count):
                body = keystroke(TYPED[i % len(TYPED)])
                sent, answered, text = await post(session, url, secret, body, "application/x-www-form-urlencoded")  # fmt: skip
                options = json.loads(text)["options"]
                titled = sum(1 for o in options if " — " in o["text"]["text"])
                rows.append((
                    (answered - sent) * 1000, api.count("list", sent, answered),
                    api.count("meeting", sent, answered), len(options),
                ))  # fmt: skip
                await asyncio.sleep(gap)  # the person's typing speed
        ended = time.perf_counter()
    finally:
        await stop_target(proc)
    times = [r[0] for r in rows]
    return {
        "p50": percentile(times, 50), "p99": percentile(times, 99), "max": max(times),
        "list_max": max(r[1] for r in rows), "meeting_max": max(r[2] for r in rows),
        "meeting_total": api.count("meeting", began, ended), "seconds": ended - began, "empty": sum(1 for r in rows if not r[3]),
        "titled": titled, "last_options": rows[-1][3],
    }  # fmt: skip


async def searches(api: Api, slack: StandInSlack, n: int) -> list[tuple[str, float, str]]:
    secret = secrets.token_hex(16)
    proc, url = await start_bot(api, slack, secret)
    results = []
    try:
        async with aiohttp.ClientSession() as session:
            middle = max(1, n // 2)
            for i, (how, name) in enumerate(
                [
                    ("stream name", f"Stream {middle}"),
                    ("meeting title", f"Meeting title {middle + 1}"),
                ]
            ):
                done = len(slack.calls("functions.completeSuccess")) + len(
                    slack.calls("functions.completeError")
                )
                sent, _, _ = await post(
                    session, url, secret, step(name, f"Fx{i}"), "application/json"
                )

                def finished(_: object, before: int = done) -> bool:
                    return (
                        len(slack.calls("functions.completeSuccess"))
                        + len(slack.calls("functions.completeError"))
                        > before
                    )

                try:
                    await slack.recorder.wait_for(finished, SEARCH_WINDOW)
                except TimeoutError:
                    results.append((how, time.perf_counter() - sent, "no end yet"))
                    continue
                last = slack.recorder.received[-1]
                outcome = "completed" if last.path.endswith("completeSuccess") else "failed"
                results.append((how, time.perf_counter() - sent, outcome))
    finally:
        await stop_target(proc)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="live streams (default 1000)")
    parser.add_argument("--delay", type=float, default=0.15, help="seconds per API read")
    parser.add_argument("-k", type=int, default=40, help="keystrokes (default 40)")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between keystrokes")
    args = parser.parse_args()
    api = Api(args.n, args.delay)
    slack = StandInSlack()
    await api.rk.start()
    await slack.start()
    LOG.write_text("")
    try:
        typed = await keystrokes(api, slack, args.k, args.gap)
        print_keystrokes(args, typed)
        searched = await searches(api, slack, args.n)
    finally:
        await api.rk.close()
        await slack.close()
    print()
    print("| search by | seconds to the step's end | outcome |")
    print("|---|---|---|")
    for how, seconds, outcome in searched:
        print(f"| {how} | {seconds:.2f} | {outcome} |")


def print_keystrokes(args: argparse.Namespace, t: dict[str, Any]) -> None:
    pages = -(-args.n // 100)
    print(
        f"# {args.n} live streams, {args.delay:g} s per API read, cold caches; list: {pages} pages"
    )
    print()
    print("| keystrokes | answer p50 ms | p99 ms | max ms | empty answers | list reads per "
          "answer (max) | meeting reads during an answer (max, background) | meeting reads "
          "in all (per s) | last answer: options, with title |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.k} | {t['p50']:.1f} | {t['p99']:.1f} | {t['max']:.1f} | {t['empty']} | "
        f"{t['list_max']} | {t['meeting_max']} | {t['meeting_total']} "
        f"({t['meeting_total'] / t['seconds']:.1f}) | "
        f"{t['last_options']}, {t['titled']} |",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
