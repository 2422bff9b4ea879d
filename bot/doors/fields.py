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


def action_value(body: object) -> str:
    """The pressed button's value in a block_actions payload ("" when missing)."""
    actions = body.get("actions") if isinstance(body, dict) else None
    return text_at(actions[0] if isinstance(actions, list) and actions else None, "value") or ""


def action_channel(body: object) -> str | None:
    """The channel of the message whose button was pressed."""
    return text_at(body, "channel", "id") or text_at(body, "container", "channel_id")


def on_private_card(body: object) -> bool:
    """True when the pressed button sits on an ephemeral message (a private card)."""
    container = body.get("container") if isinstance(body, dict) else None
    return isinstance(container, dict) and container.get("is_ephemeral") is True
