"""No secret reaches a log line, a Slack message or error output: the bot runs as a
process at DEBUG with every secret set, through success, failures and denials."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import (
    cf_dyte_error,
    cf_json,
    cf_live,
    cf_raw,
    cf_reset_mid_body,
    cf_v4_error,
)
from tests.conftest import ALLOWED, MEETING, SECRETS, STRANGER, Spawn, slack_error
from tests.fakes import payloads

WORKFLOW_TOKEN = "xwfp-workflow-token-hunter2"


async def send(url: str, body: str, content_type: str, secret: str = SECRETS[0]) -> int:
    headers = payloads.signed_headers(secret, body, content_type)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/slack/events", data=body, headers=headers) as r,
    ):
        return r.status


async def test_no_secret_in_logs_slack_messages_or_audit_file(
    spawn: Spawn, slack: FakeSlack, cloudflare: FakeCloudflare, tmp_path: Path
) -> None:
    audit_file = tmp_path / "audit.jsonl"
    bot = await spawn(
        {
            "LOG_LEVEL": "DEBUG",
            "AUDIT_LOG_FILE": str(audit_file),
            "ALLOWED_USERGROUP_IDS": "S0GROUP",
            "ALLOWED_CHANNEL_IDS": "C0OPS,C0WF",
            "RATE_LIMIT_PER_USER_PER_MINUTE": "8",
            "CLOUDFLARE_TIMEOUT_SECONDS": "0.3",
        }
    )
    form = "application/x-www-form-urlencoded"

    async def command(
        text: str, user: str, name: str, replies: int, channel: str = "C0OPS"
    ) -> None:
        fields = payloads.slash_command(text, user, slack.response_url(name), channel)
        assert await send(bot.url, payloads.form_body(fields), form) == 200
        await slack.wait_responses(replies, name, within=10)

    slack.answer_api("usergroups.users.list", slack_error("missing_scope"))
    html = b"<html><body>502 Bad Gateway</body></html>"
    cloudflare.then(
        cf_raw(200, b'{"success":true,"data":{"message":"Stopped"}}', "application/json"),
        cf_dyte_error(404, "No active livestream"),
        cf_v4_error(401, 10000, "Authentication error"),
        # Each lost answer is followed by a status read: still live, or failing.
        *[cf_raw(502, html), cf_live(MEETING)] * 3,
        cloudflare.hang(), cf_dyte_error(500, "status read failed"),
        cf_reset_mid_body(), cf_dyte_error(500, "status read failed"),
        cf_json(429, {"success": False}, {"Retry-After": "600"}),
    )  # fmt: skip
    for name in ("ok", "404", "401", "502", "timeout", "reset", "429"):
        await command(MEETING, ALLOWED, name, 2)  # "Stopping…" and the outcome
    await command(MEETING, STRANGER, "group-lookup-failed", 1)
    await command(MEETING, STRANGER, "not-allowed", 1)
    await command(MEETING, ALLOWED, "wrong-channel", 1, channel="C0ELSE")
    await command("../x", ALLOWED, "invalid", 1)
    await command(f"status {MEETING}", ALLOWED, "status", 1)
    fields = payloads.slash_command(MEETING, ALLOWED, slack.response_url("forged"))
    assert await send(bot.url, payloads.form_body(fields), form, secret="wrong") == 401
    click = payloads.button_click(MEETING, STRANGER, slack.response_url("btn"))
    assert await send(bot.url, payloads.action_body(click), form) == 200
    await slack.wait_responses(1, "btn")
    step = {
        "meeting_id": MEETING,
        "user_context": payloads.user_context(ALLOWED),
        "channel_id": "C0WF",
    }
    assert (
        await send(bot.url, json.dumps(payloads.function_executed(step)), "application/json") == 200
    )
    await slack.wait_calls("functions.completeError")  # the 429 above paused every call
    await command(MEETING, ALLOWED, "rate-limited", 1)
    texts = {
        name: slack.responses(name)[-1]["text"]
        for name in ("timeout", "group-lookup-failed", "rate-limited")
    }
    assert "timed out" in texts["timeout"]
    assert "Could not check" in texts["group-lookup-failed"]
    assert "limit of stops per minute" in texts["rate-limited"]

    code, log = await bot.finish()
    assert code == 0
    assert "DEBUG" in log  # the run really was at DEBUG
    sent_to_slack = "\n".join(r.body.decode() for r in slack.recorder.received)
    audit_lines = audit_file.read_text()
    for secret in (*SECRETS, WORKFLOW_TOKEN):
        assert secret not in log, secret
        assert secret not in sent_to_slack, secret
        assert secret not in audit_lines, secret

    # The file holds the same audit lines as the bot.audit logger, one per attempt.
    logged = [
        line.split("bot.audit: ", 1)[1] for line in log.splitlines() if " bot.audit: " in line
    ]
    assert audit_lines.splitlines() == logged
    assert len(logged) == 15  # every attempt but the forged one


def test_the_log_filter_scrubs_configured_secrets_and_token_shapes() -> None:
    import logging

    from bot.logs import RedactingFilter

    redact = RedactingFilter(["cf-api-token-hunter2-0123"])
    record = logging.LogRecord(
        "x", logging.DEBUG, __file__, 1,
        "headers %s body %s",
        ({"Authorization": "Bearer cf-api-token-hunter2-0123"}, "token=xoxb-1-2-abc&x=xwfp-zzz v0=" + "ab" * 16),
        None,
    )  # fmt: skip
    assert redact.filter(record)
    text = record.getMessage()
    assert (
        "hunter2" not in text and "xoxb-" not in text and "xwfp-" not in text and "abab" not in text
    )
    assert "[redacted]" in text
