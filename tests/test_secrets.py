"""No secret reaches a log line, a Slack message or error output: the bot runs as a
process at DEBUG with every secret set, through success, failures and denials."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from tests.conftest import ALLOWED, MEETING, SECRETS, STRANGER, Spawn
from tests.fakes import payloads
from tests.fakes.servers import FakeCloudflare, FakeSlack, cf_dyte_error, cf_raw, cf_v4_error

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
    bot = await spawn({"LOG_LEVEL": "DEBUG", "AUDIT_LOG_FILE": str(audit_file)})
    form = "application/x-www-form-urlencoded"

    def command(text: str, user: str, name: str) -> str:
        return payloads.form_body(payloads.slash_command(text, user, slack.response_url(name)))

    cloudflare.then(
        cf_raw(
            200,
            b'{"success":true,"data":{"message":"Stopped live stream successfully"}}',
            "application/json",
        ),
        cf_dyte_error(404, "No active livestream"),
        cf_v4_error(401, 10000, "Authentication error"),
    )
    assert await send(bot.url, command(MEETING, ALLOWED, "ok"), form) == 200
    await slack.wait_responses(2, "ok")
    assert await send(bot.url, command(MEETING, ALLOWED, "404"), form) == 200
    await slack.wait_responses(2, "404")
    assert await send(bot.url, command(MEETING, ALLOWED, "401"), form) == 200
    await slack.wait_responses(2, "401")
    assert await send(bot.url, command(MEETING, STRANGER, "denied"), form) == 200
    await slack.wait_responses(1, "denied")
    assert await send(bot.url, command("../x", ALLOWED, "invalid"), form) == 200
    await slack.wait_responses(1, "invalid")
    assert await send(bot.url, command(MEETING, ALLOWED, "forged"), form, secret="wrong") == 401
    click = payloads.action_body(
        payloads.button_click(MEETING, STRANGER, slack.response_url("btn"))
    )
    assert await send(bot.url, click, form) == 200
    await slack.wait_responses(1, "btn")
    step = json.dumps(
        payloads.function_executed(
            {"meeting_id": MEETING, "user_id": ALLOWED, "channel_id": "C0WF"}
        )
    )
    assert await send(bot.url, step, "application/json") == 200
    await slack.wait_calls("functions.completeSuccess")

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
    assert len(logged) == 7


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
