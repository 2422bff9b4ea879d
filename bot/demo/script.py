"""`stop-livestream-bot demo`: the real bot, in HTTP mode on 127.0.0.1, against the
built-in stand-ins for Slack and RealtimeKit. No credentials, no network, no .env.

It sends real signed requests through the production code path and prints what each
person would see in Slack, then the audit lines (harness.py runs and prints; this is
the script).
"""

from __future__ import annotations

import datetime
import sys
import time
from typing import TextIO

from bot.demo.harness import ALICE, MALLORY, Harness, running_bot
from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import StandInSlack

LIVE_MEETING = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
WORKFLOW_MEETING = "550e8400-e29b-41d4-a716-446655440000"
HALLS = {
    "1b4e28ba-2fa1-41d2-883f-0016d3cca427": "Hall A",
    "6fa459ea-ee8a-4ca4-894e-db77e160355e": "Hall B",
    "9b2c6a7e-4d3f-4c1b-9a8e-2f5d7c3b1a60": "Hall C",
}


async def run_demo(out: TextIO = sys.stdout) -> int:
    """Run the scripted session; return the exit code."""
    slack = StandInSlack()
    api = StandInRealtimeKit()
    now = time.time()
    api.add(LIVE_MEETING, "Main stage", "Product launch", _iso(now - 42 * 60))
    api.add(WORKFLOW_MEETING, "Backstage camera", "Launch rehearsal", _iso(now - 15 * 60))
    for n, (meeting, hall) in enumerate(HALLS.items()):
        api.add(meeting, hall, f"Breakout {n + 1}", _iso(now - (5 + n) * 60))
    await slack.start()
    await api.start()
    try:
        async with running_bot(slack, api, out) as demo:
            await _script(demo)
    finally:
        await slack.close()
        await api.close()
    print("\nDemo finished: the bot, the stand-ins and every connection are closed.", file=out)
    return 0


async def _script(demo: Harness) -> None:
    demo.say(
        "stop-livestream-bot demo: the real bot, in HTTP mode, against local stand-ins for\n"
        "Slack and Cloudflare RealtimeKit. @alice is on the allowlist; @mallory is not.\n"
        f"Five livestreams are live: Main stage ({LIVE_MEETING}), Backstage camera\n"
        f"({WORKFLOW_MEETING}), and Halls A, B and C. @alice may also stop everything."
    )
    await demo.step(
        "1. @alice asks what is live: /stop-livestream list",
        lambda: demo.command("list", ALICE, "step0"),
        lambda: demo.replied("step0"),
    )
    await demo.step(
        f"2. @alice types: /stop-livestream {LIVE_MEETING}",
        lambda: demo.command(LIVE_MEETING, ALICE, "step1"),
        lambda: demo.channel_posts("step1") >= 1,
    )
    await demo.step(
        f"3. @alice types it again: /stop-livestream {LIVE_MEETING}",
        lambda: demo.command(LIVE_MEETING, ALICE, "step2"),
        lambda: demo.channel_posts("step2") >= 1,
    )
    await demo.step(
        f"4. @mallory, who is not allowed, types: /stop-livestream {WORKFLOW_MEETING}",
        lambda: demo.command(WORKFLOW_MEETING, MALLORY, "step3"),
        lambda: demo.replied("step3"),
    )
    await demo.step(
        "5. @alice mistypes: /stop-livestream 7c9e6679/../../accounts",
        lambda: demo.command("7c9e6679/../../accounts", ALICE, "step4"),
        lambda: demo.replied("step4"),
    )
    await demo.step(
        f"6. @alice runs a workflow whose step 'Stop a livestream' names meeting {WORKFLOW_MEETING}",
        lambda: demo.workflow_step(WORKFLOW_MEETING, ALICE),
        lambda: bool(demo.slack.calls("functions.completeSuccess")),
    )
    await demo.step(
        "7. Wrong content on every hall: @alice types /stop-livestream all",
        lambda: demo.command("all", ALICE, "step7"),
        lambda: demo.replied("step7"),
    )
    await demo.step(
        "8. @alice presses the red button and confirms",
        lambda: demo.press_stop_all("step7", "step8"),
        lambda: bool(demo.slack.calls("chat.postMessage")[1:]),
    )


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
