"""The audit trail: one JSON line per attempt on the `bot.audit` logger.

Fields of a stop attempt (`"event": "stop"`): time (UTC, ISO 8601), request_id, door,
team_id, user_id, channel_id, meeting_id, decision (allowed, denied, invalid), reason
(for a denial), api_status, outcome, shared (joined a call already in flight) and
duration_ms. A reply that could not be delivered to Slack adds `"event": "reply_failed"`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from bot import metrics

AUDIT_LOGGER_NAME = "bot.audit"
audit_log = logging.getLogger(AUDIT_LOGGER_NAME)


def write(event: str, **fields: Any) -> None:
    """Append one audit line."""
    line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
    audit_log.info(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
    metrics.count_audit(event, fields)


def add_file(path: str) -> logging.Handler:
    """Also append audit lines, bare, to the file at `path`."""
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_log.addHandler(handler)
    return handler
