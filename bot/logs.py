"""Logging set-up: one stderr handler whose filter scrubs anything token-shaped, so
no secret reaches a log line even from a dependency's debug output."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from bot import audit

# Slack tokens (bot, user, app, workflow, refresh), bearer credentials, and signatures.
_TOKEN_SHAPES = re.compile(
    r"\b(?:xox[a-z]|xapp|xwf[a-z]|xoxe(?:\.xox[a-z])?)-[A-Za-z0-9-]+"
    r"|(?i:bearer)\s+[^\s'\",}]+"
    r"|v0=[0-9a-f]{16,}"
)
REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Replaces known secret values and token-shaped text in every record it sees."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def configure(
    level: str, secrets: Iterable[str] = (), audit_file: str | None = None
) -> RedactingFilter:
    """Log to stderr at `level` through a redacting filter; audit lines go to
    `audit_file` too when given."""
    redact = RedactingFilter(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redact)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    audit.audit_log.setLevel(logging.INFO)
    if audit_file:
        audit.add_file(audit_file).addFilter(redact)
    return redact
