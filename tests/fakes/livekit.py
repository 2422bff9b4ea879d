"""Helpers for tests of what is live: meeting IDs, start times, and reading the list
reply's blocks."""

from __future__ import annotations

import datetime
import time
from typing import Any


def meeting(n: int) -> str:
    """The n-th made-up meeting ID (a lowercase UUID)."""
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def started(minutes_ago: float) -> str:
    """An ISO 8601 created_at `minutes_ago` minutes before now."""
    when = datetime.datetime.fromtimestamp(time.time() - minutes_ago * 60, datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def rows(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """The list's row sections: those carrying a Stop button."""
    return [b for b in reply.get("blocks", []) if b["type"] == "section" and "accessory" in b]


def action_buttons(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """Buttons in actions blocks (the next-page button, Try again...)."""
    blocks = reply.get("blocks") or []
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def all_buttons(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of a message, row accessories included."""
    return [b["accessory"] for b in rows(reply)] + action_buttons(reply)
