"""Logging set-up: one stderr handler whose filter scrubs anything token-shaped, so
no secret reaches a log line even from a dependency's debug output."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from bot import audit
from bot.config import LogFormat

# Slack tokens (bot, user, app, workflow, refresh), bearer credentials, and signatures.
_TOKEN_SHAPES = re.compile(
    r"\b(?:xox[a-z]|xapp|xwf[a-z]|xoxe(?:\.xox[a-z])?)-[A-Za-z0-9-]+"
    r"|(?i:bearer)\s+[^\s'\",}]+"
    r"|v0=[0-9a-f]{16,}"
)
# A path separator as it appears in a URL, in JSON (\/) or URL-encoded (%2F), since
# a response_url is also logged inside request bodies.
_SEP = r"(?:/|\\/|%2[Ff])"
# Slack's response_urls and webhooks (hooks.slack.com/commands/T…/<digits>/<token>,
# /actions/…, /workflows/…, /triggers/…, /services/…; E… on Enterprise Grid) let anyone
# post to the channel: what follows the kind is the secret. By host (Slack and GovSlack), and by path shape
# on any host, so a proxy or a local fake is scrubbed too.
_HOOK_URLS = re.compile(
    rf"(?P<keep>hooks\.slack(?:-gov)?\.com{_SEP}[A-Za-z]+{_SEP}"
    rf"|{_SEP}(?:commands|actions|workflows|triggers|services){_SEP}(?=[TE][A-Z0-9]+{_SEP}))"
    r"[A-Za-z0-9_%\\/-]+"
)
REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Replaces known secret values and token-shaped text in every record it sees.

    It never raises, even for a malformed `%` call from a dependency: logging would
    otherwise pass the exception to the code that logged."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """`text` with every secret and token-shaped part replaced by [redacted]."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_SHAPES.sub(REDACTED, text)
        return _HOOK_URLS.sub(rf"\g<keep>{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = _message(record)
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.msg = self.scrub(message)
            record.args = None
            if record.exc_text:
                record.exc_text = self.scrub(record.exc_text)
            if record.stack_info:
                record.stack_info = self.scrub(record.stack_info)
            request_id = getattr(record, "request_id", None)
            if request_id is not None:
                record.request_id = self.scrub(_safe_str(request_id))
        except Exception:  # the last resort: drop what could not be scrubbed, keep the line
            record.msg = "[a log record that could not be formatted]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            record.request_id = None
        return True


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # e.g. log.info("%d", "x"), or too few arguments: keep both parts, readable.
        return f"{_safe_str(record.msg)} (log arguments: {_safe_repr(record.args)})"


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"


def _safe_repr(value: object) -> str:
    # Item by item, so one unprintable argument does not hide the others.
    if isinstance(value, tuple):
        items = [_safe_repr(v) for v in value]
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_safe_repr(k)}: {_safe_repr(v)}" for k, v in value.items()) + "}"
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and
    request_id and exc when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line["request_id"] = _safe_str(request_id)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line)


def handler(
    redact: RedactingFilter, log_format: LogFormat = "text", stream: IO[str] | None = None
) -> logging.Handler:
    """A handler writing to `stream` (stderr by default) in `log_format`, every record
    passed through `redact` first."""
    out = logging.StreamHandler(sys.stderr if stream is None else stream)
    if log_format == "json":
        out.setFormatter(JsonFormatter())
    else:
        out.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    out.addFilter(redact)
    return out


def configure(
    level: str,
    secrets: Iterable[str] = (),
    audit_file: str | None = None,
    log_format: LogFormat = "text",
) -> RedactingFilter:
    """Log to stderr at `level` (as text or JSON lines) through a redacting filter;
    audit lines go to `audit_file` too when given."""
    redact = RedactingFilter(secrets)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(redact, log_format))
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    audit.audit_log.setLevel(logging.INFO)
    if audit_file:
        audit.add_file(audit_file).addFilter(redact)
    return redact
