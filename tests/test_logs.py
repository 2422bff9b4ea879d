"""The log filter never raises and treats response_urls as secrets; LOG_FORMAT=json
writes one scrubbed JSON object per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest
from aiohttp import web
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.demo.standins import StandInServer
from bot.logs import REDACTED, RedactingFilter, handler
from tests.conftest import ALLOWED, MEETING, SECRETS, Spawn
from tests.fakes import payloads
from tests.test_secrets import send

HOOK_TOKEN = "Hunter2HookToken0123abcd"


class SlackHooks(StandInServer):
    """Answers 200 to posts on paths shaped like Slack's response_urls."""

    def __init__(self) -> None:
        super().__init__()

        async def hook(request: web.Request) -> web.StreamResponse:
            await self.received(request)
            return web.Response(text="ok")

        self.app.router.add_post("/{kind}/{team}/{number}/{token}", hook)

    def response_url(self, kind: str = "commands") -> str:
        """A response_url of Slack's shape on this server."""
        return f"{self.url}/{kind}/T0TEAM/1234567890123/{HOOK_TOKEN}"


@pytest.fixture
async def hooks() -> AsyncIterator[SlackHooks]:
    server = SlackHooks()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the bot's handler (redacting filter, text format)."""
    out = io.StringIO()
    logger = logging.getLogger("tests.dependency")
    watch = handler(RedactingFilter(["xoxb-configured-hunter2"]), "text", out)
    logger.addHandler(watch)
    logger.setLevel(logging.DEBUG)
    yield logger, out
    logger.removeHandler(watch)


# ------------------------------------------------------------- malformed % calls


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("%d items", "xoxb-1-2-hunter2"), "%d items (log arguments: ('[redacted]',))"),
        (("%s then %s", "one"), "%s then %s (log arguments: ('one',))"),
        (("%(missing)s", {"other": "xoxb-3-hunter2"}), "{'other': '[redacted]'}"),
        (("%d", Unprintable()), "%d (log arguments: (<Unprintable that cannot be shown>,))"),
        ((Unprintable(), 1), "<Unprintable that cannot be shown> (log arguments: (1,))"),
    ],
)
def test_a_malformed_log_call_never_raises_and_is_still_scrubbed(
    captured: tuple[logging.Logger, io.StringIO], args: tuple[object, ...], shown: str
) -> None:
    logger, out = captured
    logger.info(*args)  # without the fallback the filter raises into this call
    line = out.getvalue()
    assert shown in line
    assert "hunter2" not in line


# -------------------------------------------------------------- response_urls


@pytest.mark.parametrize(
    "text",
    [
        "url: https://hooks.slack.com/commands/T025540N6/86862216608/4DNA0LVn6QG7xqfBhGSTIqoc",
        "https://hooks.slack.com/actions/T025540N6/5862216608123/4DNA0LVn6QG7xqfBhGSTIqoc.",
        "https://hooks.slack.com/workflows/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",
        "https://hooks.slack-gov.com/commands/E0GOV/86862216608/4DNA0LVn6QG7xqfBhGSTIqoc",
        "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT025540N6%2F86862216608"
        "%2F4DNA0LVn6QG7xqfBhGSTIqoc&trigger_id=1.2",
        '{"response_url":"https:\\/\\/hooks.slack.com\\/commands\\/T025540N6\\/86862216608'
        '\\/4DNA0LVn6QG7xqfBhGSTIqoc"}',
        "http://127.0.0.1:8080/commands/T025540N6/86862216608/4DNA0LVn6QG7xqfBhGSTIqoc",
        "http://proxy.internal/actions/E0GRID/86862216608/4DNA0LVn6QG7xqfBhGSTIqoc",
    ],
)
def test_response_urls_are_scrubbed_by_shape(text: str) -> None:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, text, None, None)
    RedactingFilter().filter(record)
    scrubbed = record.getMessage()
    assert "4DNA0LVn6QG7xqfBhGSTIqoc" not in scrubbed
    assert REDACTED in scrubbed


def test_text_that_only_looks_like_a_path_is_left_alone() -> None:
    text = "see /api/commands/list and /stop-livestream status 9f2b5c1e"
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, text, None, None)
    RedactingFilter().filter(record)
    assert record.getMessage() == text


async def test_slack_sdks_own_debug_line_for_a_response_url_is_scrubbed(
    hooks: SlackHooks,
) -> None:
    out = io.StringIO()
    sdk = logging.getLogger("slack_sdk")
    watch = handler(RedactingFilter(), "text", out)
    old_level = sdk.level
    sdk.addHandler(watch)
    sdk.setLevel(logging.DEBUG)
    try:
        response = await AsyncWebhookClient(hooks.response_url()).send(text="Stopped")
    finally:
        sdk.removeHandler(watch)
        sdk.setLevel(old_level)
    assert response.status_code == 200
    [post] = hooks.recorder.received
    assert post.path.endswith(HOOK_TOKEN)  # it really went to the token-bearing URL
    logged = out.getvalue()
    assert "Sending a request - url: http://127.0.0.1" in logged
    assert f"/commands/{REDACTED}, body:" in logged
    assert HOOK_TOKEN not in logged


# ----------------------------------------------------------------- LOG_FORMAT=json


def test_json_lines_carry_request_id_and_traceback_after_redaction() -> None:
    out = io.StringIO()
    logger = logging.getLogger("tests.json")
    watch = handler(RedactingFilter(["cf-configured-hunter2"]), "json", out)
    logger.addHandler(watch)
    try:
        logger.warning("stop for %s", "x", extra={"request_id": "9be09893b5ea"})
        try:
            raise ValueError("token cf-configured-hunter2\nsecond line")
        except ValueError:
            logger.exception("failed with xoxb-1-2-hunter2")
    finally:
        logger.removeHandler(watch)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["request_id"] == "9be09893b5ea"
    assert first["message"] == "stop for x"
    assert (first["level"], first["logger"]) == ("WARNING", "tests.json")
    assert first["time"].endswith("Z")
    assert "request_id" not in second
    assert second["message"] == f"failed with {REDACTED}"
    assert "ValueError: token [redacted]\nsecond line" in second["exc"]
    assert "hunter2" not in out.getvalue()


async def test_the_bot_with_log_format_json_writes_only_scrubbed_json_lines(
    spawn: Spawn, hooks: SlackHooks
) -> None:
    bot = await spawn({"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"})
    fields = payloads.slash_command(MEETING, ALLOWED, hooks.response_url())
    await send(bot.url, payloads.form_body(fields), "application/x-www-form-urlencoded")
    await hooks.recorder.wait_for(lambda posts: len(posts) >= 2)  # "Stopping…", the outcome
    code, log = await bot.finish()
    assert code == 0

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    for line in lines:
        datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
    assert {line["level"] for line in lines} >= {"DEBUG", "INFO"}
    assert any(line["logger"] == "bot.audit" for line in lines)
    hook_lines = [line["message"] for line in lines if "Sending a request - url" in line["message"]]
    assert any(f"/commands/{REDACTED}" in message for message in hook_lines)
    for secret in (*SECRETS, HOOK_TOKEN):
        assert secret not in log, secret
