"""What the demo's script runs on: the real bot started in HTTP mode against started
stand-ins, the people of its Slack workspace sending signed requests, and a terminal
that shows what each of them would see in Slack, then the audit lines."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
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
CHANNEL = "C0EVENTS"

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


@asynccontextmanager
async def running_bot(
    slack: StandInSlack, api: StandInRealtimeKit, out: TextIO
) -> AsyncIterator[Harness]:
    """The bot on 127.0.0.1, allowing @alice (to stop everything too), with its audit
    lines kept for `out`; stopped, and its audit log put back, on leaving."""
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
            verifier = SignatureVerifier(signing_secret)
            yield Harness(session, url, verifier, slack, lines, out)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
        audit.audit_log.removeHandler(lines)
        audit.audit_log.propagate = True


@dataclass
class Harness:
    """Sends what people do in Slack as signed requests, and prints what follows."""

    session: aiohttp.ClientSession
    url: str
    verifier: SignatureVerifier
    slack: StandInSlack
    audit_lines: _AuditLines
    out: TextIO
    seen_requests: int = 0
    seen_audit: int = 0

    def say(self, text: str = "") -> None:
        """Print `text`."""
        print(text, file=self.out)

    def replied(self, name: str) -> bool:
        """Whether the response URL `name` got an answer."""
        return len(self.slack.responses(name)) >= 1

    def channel_posts(self, name: str) -> int:
        """How many answers to the response URL `name` everyone in the channel sees."""
        return sum(r.get("response_type") == "in_channel" for r in self.slack.responses(name))

    async def step(
        self,
        title: str,
        send: Callable[[], Awaitable[int]],
        finished: Callable[[], bool],
    ) -> None:
        """Print `title`, `send` the request, and once `finished`, what Slack was asked
        to show since the last step and the audit lines written meanwhile."""
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
        """Print what Slack, asked at `path` with `data`, would show and to whom."""
        if path.startswith("/response/") or path == "/api/chat.postMessage":
            private = path.startswith("/response/") and data.get("response_type") != "in_channel"
            who = "Only the person sees" if private else "In #events, everyone sees"
            self.say(f"{who}:\n    {_indent(plain(str(data.get('text'))))}")
        elif path == "/api/functions.completeSuccess":
            self.say("The workflow step completed; its outputs:")
            outputs = data.get("outputs")
            parsed = json.loads(outputs) if isinstance(outputs, str) else outputs or {}
            for key, value in parsed.items():
                self.say(f"    {key}: {plain(str(value))}")
        elif path == "/api/functions.completeError":
            self.say(f"The workflow step failed: {plain(str(data.get('error')))}")

    async def post(self, body: str, content_type: str) -> int:
        """POST `body` to the bot, signed as Slack signs it; the HTTP status."""
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
        """`user_id` types /stop-livestream `text`; answers go to response URL `name`."""
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
        """`user_id` runs a workflow whose custom step names `meeting_id`."""
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


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")
