"""Soak benchmark: does one bot's memory level off under a steady load?

Starts `stop-livestream-bot http` (burst.py's harness: a subprocess against fake Slack
and fake RealtimeKit on 127.0.0.1) and runs rounds of N slash commands at once plus W
workflow deliveries, every one from a new person (all in one allowed user group) for a
new meeting that the live list names and whose title the API gives, the API answering at
once (the bot's pacing to RealtimeKit's 3,500 calls per 5 minutes is lifted: the fake has
no limit). After each round it prints the bot's RSS (VmRSS). The rate limit stays at its
default, so every person gets a rate-limit window. With --fill, 50,000 workflow
deliveries with no meeting ID (refused before any API call) first fill the bot's
delivery-id cache to its bound; rounds of 1,200 then fill the title, name and rate-limit
caches by round 9.

Run: uv run python benchmarks/soak.py [--rounds 10] [-n 1000] [--workflows 200] [--fill]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web
from burst import Fakes, command_body, free_port, send, start_target, stop_target
from slack_sdk.signature import SignatureVerifier

GROUP = "S0SOAK"
FILL = 50_000  # two delivery ids each: bot.state.memory.DEDUP_MAXSIZE
CHANNEL = "C0SOAK"


class SoakFakes(Fakes):
    """burst.py's fakes, plus a user group of every soak user, the live list of the
    round's meetings, meeting titles, and workflow steps completed."""

    def __init__(self, users: list[str]) -> None:
        super().__init__(delay=0.0)
        self.users = users
        self.live: list[str] = []
        self.completed = 0

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/api/{method}", self.slack_api)  # usergroups.users.list
        kit = "/client/v4/accounts/{a}/realtime/kit/{b}"
        app.router.add_get(kit + "/livestreams", self.list_live)
        app.router.add_get(kit + "/meetings/{meeting}", self.meeting)
        return app

    async def slack_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "usergroups.users.list":
            await request.read()
            return web.json_response({"ok": True, "users": self.users})
        if method.startswith("functions.complete"):
            await request.read()
            self.completed += 1
            self.posted.set()
            return web.json_response({"ok": True})
        return await super().slack_api(request)

    async def list_live(self, request: web.Request) -> web.Response:
        per_page = int(request.query.get("per_page", "100"))
        start = (int(request.query.get("page_no", "1")) - 1) * per_page
        page = [
            {"id": f"ls-{m}", "meeting_id": m, "name": f"Stream {m[:8]}", "status": "LIVE"}
            for m in self.live[start : start + per_page]
        ]
        paging = {"start_offset": start + 1, "end_offset": start + len(page)}
        paging["total_count"] = len(self.live)
        return web.json_response({"success": True, "data": page, "paging": paging})

    async def meeting(self, request: web.Request) -> web.Response:
        meeting = request.match_info["meeting"]
        data = {"id": meeting, "title": f"Town hall {meeting[:8]}", "status": "ACTIVE"}
        return web.json_response({"success": True, "data": data})


def step_body(meeting: str, user: str) -> str:
    """A function_executed event for the stop step, with fresh delivery ids."""
    event = {
        "type": "function_executed",
        "function": {"id": "Fn0STOP", "callback_id": "stop_livestream", "app_id": "A0APP"},
        "inputs": {"meeting_id": meeting, "user_context": {"id": user}, "channel_id": CHANNEL},
        "function_execution_id": f"Fx{uuid.uuid4().hex}",
        "workflow_execution_id": "Wx0",
        "event_ts": "1.1",
        "bot_access_token": "xwfp-soak",
    }
    body = {"team_id": "T0B", "api_app_id": "A0APP", "type": "event_callback"}
    return json.dumps({**body, "event_id": f"Ev{uuid.uuid4().hex}", "event": event})


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def post_json(
    session: aiohttp.ClientSession, url: str, verifier: SignatureVerifier, body: str
) -> None:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp, body=body) or "",
    }
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError):
        pass  # counted as not answered


async def one_round(
    session: aiohttp.ClientSession,
    url: str,
    verifier: SignatureVerifier,
    fakes: SoakFakes,
    who: list[str],
    commands: int,
    window: float,
) -> int:
    """Commands from the first `commands` people of `who`, workflow steps from the rest,
    all at once, each for a new live meeting; how many were answered within `window` s."""
    meetings = [str(uuid.uuid4()) for _ in who]
    fakes.reset()
    fakes.live, fakes.completed = meetings, 0
    await asyncio.gather(
        *(
            send(session, url, verifier, command_body(m, u, fakes))
            for m, u in zip(meetings[:commands], who[:commands], strict=True)
        ),
        *(
            post_json(session, url, verifier, step_body(m, u))
            for m, u in zip(meetings[commands:], who[commands:], strict=True)
        ),
    )
    steps = len(who) - commands
    await fakes.wait_posts(
        lambda: len(fakes.posts) >= commands and fakes.completed >= steps, window
    )
    return len(fakes.posts) + fakes.completed


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("-n", type=int, default=1000, help="slash commands per round")
    parser.add_argument("--workflows", type=int, default=200, help="workflow steps per round")
    parser.add_argument("--window", type=float, default=60.0, help="max seconds per round")
    parser.add_argument("--fill", action="store_true", help="fill the delivery-id cache first")
    args = parser.parse_args()
    per_round = args.n + args.workflows
    users = [f"U{r:03d}{i:06d}" for r in range(args.rounds) for i in range(per_round)]
    fakes = SoakFakes(users)
    runner = await fakes.start()
    secret, port = secrets.token_hex(16), free_port()
    extra = {"ALLOWED_USERGROUP_IDS": GROUP, "RATE_LIMIT_PER_USER_PER_MINUTE": "10"}
    os.environ["BENCH_PY_ARGS"] = __file__  # start_target runs `soak.py -m bot http ...`
    proc = await start_target("bot", fakes, secret, port, 50, extra, "soak")
    url = f"http://127.0.0.1:{port}/slack/events"
    verifier = SignatureVerifier(secret)
    print(f"# {args.rounds} rounds of {args.n} commands + {args.workflows} workflow steps")
    print("| round | answered | seconds | RSS MB | since round 1 MB |\n|---|---|---|---|---|")
    first = None
    try:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            if args.fill:
                for _ in range(FILL // 1000):  # a batch's steps failed before the next: no backlog
                    fakes.completed = 0
                    bodies = [step_body("", users[0]) for _ in range(1000)]
                    await asyncio.gather(*(post_json(session, url, verifier, b) for b in bodies))
                    await fakes.wait_posts(lambda: fakes.completed >= 1000, args.window)
                print(f"# after {FILL} refused deliveries: RSS {rss_mb(proc.pid):.1f} MB")
            for r in range(args.rounds):
                started = time.perf_counter()
                who = users[r * per_round : (r + 1) * per_round]
                answered = await one_round(session, url, verifier, fakes, who, args.n, args.window)
                rss = rss_mb(proc.pid)
                first = rss if first is None else first
                print(
                    f"| {r + 1} | {answered} | {time.perf_counter() - started:.1f} | "
                    f"{rss:.1f} | {rss - first:+.1f} |",
                    flush=True,
                )
    finally:
        await stop_target(proc)
        await runner.cleanup()


if __name__ == "__main__":
    if sys.argv[1:3] == ["-m", "bot"]:  # the bot itself, unpaced
        from bot.cli import main as bot_main
        from bot.realtimekit import client

        client.REQUESTS_PER_WINDOW = 10**9
        sys.exit(bot_main(sys.argv[3:]))
    asyncio.run(main())
