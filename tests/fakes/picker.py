"""Slack payloads for the live list and the shortcut, as Slack sends them (to be
form-encoded as `payload=` by payloads.action_body and signed like any other)."""

from __future__ import annotations

from typing import Any

TEAM = {"id": "T0TEAM", "domain": "acme"}


def _user(user_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_id.lower(), "team_id": "T0TEAM"}


def page_click(value: str, user_id: str, response_url: str) -> dict[str, Any]:
    """A press of the live list's "Next 20" button (`live_list_page`) on the private list."""
    return {
        "type": "block_actions",
        "team": TEAM,
        "user": _user(user_id),
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1.1",
            "channel_id": "C0OPS",
            "is_ephemeral": True,
        },
        "trigger_id": "1.2.3",
        "channel": {"id": "C0OPS", "name": "ops"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": "live_list_page",
                "block_id": "next",
                "type": "button",
                "value": value,
                "action_ts": "1.2",
            }
        ],
    }


def global_shortcut(
    user_id: str, trigger_id: str = "13345224609.738474920.8088930838d88f0"
) -> dict[str, Any]:
    """A press of the global shortcut "Stop a livestream"."""
    return {
        "type": "shortcut",
        "token": "legacy-verification-token",
        "action_ts": "1581106241.371594",
        "team": TEAM,
        "user": _user(user_id),
        "callback_id": "stop_livestream_shortcut",
        "trigger_id": trigger_id,
    }


def _view(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "V0MODAL",
        "team_id": "T0TEAM",
        "type": "modal",
        "callback_id": "stop_livestream_modal",
        "state": {"values": values},
        "hash": "1.abc",
        "title": {"type": "plain_text", "text": "Stop a livestream"},
    }


def block_suggestion(value: str, user_id: str) -> dict[str, Any]:
    """What Slack sends as the person types into the modal's livestream picker."""
    return {
        "type": "block_suggestion",
        "user": _user(user_id),
        "container": {"type": "view", "view_id": "V0MODAL"},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "action_id": "live_stream_pick",
        "block_id": "stream",
        "value": value,
        "team": TEAM,
        "view": _view({}),
    }


def view_submission(user_id: str, meeting_id: str | None, channel_id: str) -> dict[str, Any]:
    """The modal submitted with `meeting_id` picked and `channel_id` chosen."""
    picked: dict[str, Any] = {"type": "external_select", "selected_option": None}
    if meeting_id is not None:
        picked["selected_option"] = {
            "text": {"type": "plain_text", "text": "picked"},
            "value": meeting_id,
        }
    values = {
        "stream": {"live_stream_pick": picked},
        "channel": {
            "announce_channel": {
                "type": "conversations_select",
                "selected_conversation": channel_id,
            }
        },
    }
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": _user(user_id),
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "trigger_id": "1.2.4",
        "view": _view(values),
        "response_urls": [],
    }
