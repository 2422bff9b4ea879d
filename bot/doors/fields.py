"""Reading Slack payloads defensively: a field of the wrong type reads as missing."""

from __future__ import annotations

from typing import Any


def text_at(body: object, *path: str) -> str | None:
    """The non-empty string at `path` in nested dicts, or None when any step is
    missing or of another type."""
    node: Any = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, str) and node else None
