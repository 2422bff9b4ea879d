"""`stop-livestream-bot demo`: the real bot, in HTTP mode on 127.0.0.1, against the
built-in stand-ins for Slack and RealtimeKit. No credentials, no network, no .env.

It sends real signed requests through the production code path and prints what each
person would see in Slack, then the audit lines.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TextIO
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot import audit
from bot.config import load_settings
from bot.demo.realtimekit import StandInRealtimeKit
from bot.demo.standins import StandInSlack
from bot.server import serve_http

ALICE = "U0ALICE"
MALLORY = "U0MALLORY"
NAMES = {ALICE: "alice", MALLORY: "mallory", "U0BOT": "stop-livestream-bot"}
LIVE_MEETING = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
WORKFLOW_MEETING = "550e8400-e29b-41d4-a716-446655440000"
CHANNEL = "C0EVENTS"
HALLS = {
    "1b4e28ba-2fa1-41d2-883f-0016d3cca427": "Hall A",
    "6fa459ea-ee8a-4ca4-894e-db77e160355e": "Hall B",
    "9b2c6a7e-4d3f-4c1b-9a8e-2f5d7c3b1a60": "Hall C",
}

_EMOJI = {
    ":octagonal_sign:": "[STOPPED]",
    ":warning:": "[FAILED]",
    ":no_entry:": "[DENIED]",
    ":x:": "[ERROR]",
    ":hourglass_flowing_sand:": "[...]",
    ":hourglass:": "[WAIT]",
    ":rotating_light:": "[ALL]",
    ":red_circle:": "[LIVE]",
    ":white_circle:": "[NONE]",
}


class _AuditLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as a person would read it in a terminal."""
    text = re.sub(r"<@(\w+)>", lambda m: "@" + NAMES.get(m.group(1), m.group(1)), mrkdwn)
    for code, word in _EMOJI.items():
        text = text.replace(code, word)
    text = text.replace("*", "").replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


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
    signing_secret = secrets.token_hex(16)
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-demo",
            "SLACK_SIGNING_SECRET": signing_secret,
            "CLOUDFLARE_API_TOKEN": "demo-token",
            "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
            "REALTIMEKIT_APP_ID": "demo-app",
            "ALLOWED_USER_IDS": ALICE,
            "ALLOWED_STOP_ALL_USER_IDS": ALICE,
            "CLOUDFLARE_API_BASE_URL": api.base_url,
            "SLACK_API_URL": slack.api_url,
        },
        "http",
    )
    settings = replace(settings, cloudflare_retry_backoff_seconds=0.05)
    lines = _AuditLines()
    audit.audit_log.addHandler(lines)
    audit.audit_log.setLevel(logging.INFO)
    audit.audit_log.propagate = False
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve_http(settings, "127.0.0.1", 0, stop, started))
    try:
        port = await asyncio.wait_for(started, 10)
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as session:
            demo = _Demo(session, url, signing_secret, slack, lines, out)
            await demo.run()
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
        await slack.close()
        await api.close()
        audit.audit_log.removeHandler(lines)
        audit.audit_log.propagate = True
    print("\nDemo finished: the bot, the stand-ins and every connection are closed.", file=out)
    return 0


class _Demo:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        signing_secret: str,
        slack: StandInSlack,
        audit_lines: _AuditLines,
        out: TextIO,
    ) -> None:
        self.session = session
        self.url = url
        self.verifier = SignatureVerifier(signing_secret)
        self.slack = slack
        self.audit_lines = audit_lines
        self.out = out
        self.seen_requests = 0
        self.seen_audit = 0

    async def run(self) -> None:
        self.say(
            "stop-livestream-bot demo: the real bot, in HTTP mode, against local stand-ins for\n"
            "Slack and Cloudflare RealtimeKit. @alice is on the allowlist; @mallory is not.\n"
            f"Five livestreams are live: Main stage ({LIVE_MEETING}), Backstage camera\n"
            f"({WORKFLOW_MEETING}), and Halls A, B and C. @alice may also stop everything."
        )
        await self.step(
            "1. @alice asks what is live: /stop-livestream list",
            lambda: self.command("list", ALICE, "step0"),
            lambda: len(self.slack.responses("step0")) >= 1,
        )
        await self.step(
            f"2. @alice types: /stop-livestream {LIVE_MEETING}",
            lambda: self.command(LIVE_MEETING, ALICE, "step1"),
            lambda: self.channel_posts("step1") >= 1,
        )
        await self.step(
            f"3. @alice types it again: /stop-livestream {LIVE_MEETING}",
            lambda: self.command(LIVE_MEETING, ALICE, "step2"),
            lambda: self.channel_posts("step2") >= 1,
        )
        await self.step(
            f"4. @mallory, who is not allowed, types: /stop-livestream {WORKFLOW_MEETING}",
            lambda: self.command(WORKFLOW_MEETING, MALLORY, "step3"),
            lambda: len(self.slack.responses("step3")) >= 1,
        )
        await self.step(
            "5. @alice mistypes: /stop-livestream 7c9e6679/../../accounts",
            lambda: self.command("7c9e6679/../../accounts", ALICE, "step4"),
            lambda: len(self.slack.responses("step4")) >= 1,
        )
        await self.step(
            f"6. @alice runs a workflow whose step 'Stop a livestream' names meeting {WORKFLOW_MEETING}",
            lambda: self.workflow_step(WORKFLOW_MEETING, ALICE),
            lambda: bool(self.slack.calls("functions.completeSuccess")),
        )
        await self.step(
            "7. Wrong content on every hall: @alice types /stop-livestream all",
            lambda: self.command("all", ALICE, "step7"),
            lambda: len(self.slack.responses("step7")) >= 1,
        )
        await self.step(
            "8. @alice presses the red button and confirms",
            lambda: self.press_stop_all("step7", "step8"),
            lambda: bool(self.slack.calls("chat.postMessage")[1:]),
        )

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def channel_posts(self, name: str) -> int:
        return sum(r.get("response_type") == "in_channel" for r in self.slack.responses(name))

    async def step(
        self,
        title: str,
        send: Callable[[], Awaitable[int]],
        finished: Callable[[], bool],
    ) -> None:
        self.say("\n" + "=" * 78 + f"\n{title}\n" + "-" * 78)
        sent = time.perf_counter()
        status = await send()
        acked_ms = (time.perf_counter() - sent) * 1000
        self.say(f"(the bot acknowledged Slack's request with HTTP {status} in {acked_ms:.0f} ms)")
        # The audit line is written before the reply is sent, so it is there by now.
        await self.slack.recorder.wait_for(lambda _: finished(), 10)
        for item in self.slack.recorder.received[self.seen_requests :]:
            self.show(item.path, item.data)
        self.seen_requests = len(self.slack.recorder.received)
        self.say("Audit:")
        for line in self.audit_lines.lines[self.seen_audit :]:
            self.say("  " + line)
        self.seen_audit = len(self.audit_lines.lines)

    def show(self, path: str, data: dict[str, Any]) -> None:
        if path.startswith("/response/"):
            if data.get("response_type") == "in_channel":
                self.say(f"In #events, everyone sees:\n    {_indent(plain(str(data['text'])))}")
            else:
                self.say(f"Only the person sees:\n    {_indent(plain(str(data['text'])))}")
        elif path == "/api/chat.postMessage":
            self.say(f"In #events, everyone sees:\n    {_indent(plain(str(data.get('text'))))}")
        elif path == "/api/functions.completeSuccess":
            self.say("The workflow step completed; its outputs:")
            outputs = data.get("outputs")
            parsed = json.loads(outputs) if isinstance(outputs, str) else outputs or {}
            for key, value in parsed.items():
                self.say(f"    {key}: {plain(str(value))}")
        elif path == "/api/functions.completeError":
            self.say(f"The workflow step failed: {plain(str(data.get('error')))}")

    async def post(self, body: str, content_type: str) -> int:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=timestamp, body=body)
            or "",
        }
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            return response.status

    async def command(self, text: str, user_id: str, name: str) -> int:
        fields = {
            "team_id": "T0TEAM",
            "channel_id": CHANNEL,
            "channel_name": "events",
            "user_id": user_id,
            "user_name": NAMES[user_id],
            "command": "/stop-livestream",
            "text": text,
            "response_url": self.slack.response_url(name),
            "trigger_id": "1.2.3",
        }
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded")

    async def press_stop_all(self, confirmation: str, name: str) -> int:
        """Press the stop-all button of the confirmation posted to `confirmation`."""
        [reply] = self.slack.responses(confirmation)
        button = next(
            element
            for block in reply.get("blocks", [])
            for element in block.get("elements", [])
            if element.get("action_id") == "stop_all_livestreams"
        )
        payload = {
            "type": "block_actions",
            "team": {"id": "T0TEAM"},
            "user": {"id": ALICE},
            "channel": {"id": CHANNEL},
            "container": {"type": "message", "channel_id": CHANNEL, "is_ephemeral": True},
            "response_url": self.slack.response_url(name),
            "actions": [{"action_id": button["action_id"], "value": button["value"]}],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def workflow_step(self, meeting_id: str, user_id: str) -> int:
        event = {
            "type": "event_callback",
            "team_id": "T0TEAM",
            "api_app_id": "A0DEMO",
            "event_id": "Ev0DEMO",
            "event_time": int(time.time()),
            "event": {
                "type": "function_executed",
                "function": {"callback_id": "stop_livestream", "type": "app"},
                # Slack fills user_context with whoever ran the workflow.
                "inputs": {
                    "meeting_id": meeting_id,
                    "user_context": {"id": user_id, "secret": "demo"},
                    "channel_id": CHANNEL,
                },
                "function_execution_id": "Fx0DEMO",
                "workflow_execution_id": "Wx0DEMO",
                "event_ts": "1.1",
                "bot_access_token": "xwfb-demo",
            },
        }
        return await self.post(json.dumps(event), "application/json")


def _iso(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")
