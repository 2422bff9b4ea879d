"""Slack payloads as Slack sends them, signed the way Slack signs them."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier


def signed_headers(
    secret: str, body: str, content_type: str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack adds to a request: timestamp and v0 signature."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def slash_command(
    text: str, user_id: str, response_url: str, channel_id: str = "C0OPS"
) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T0TEAM",
        "team_domain": "acme",
        "channel_id": channel_id,
        "channel_name": "ops",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": "/stop-livestream",
        "text": text,
        "api_app_id": "A0APP",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def user_context(user_id: str) -> dict[str, str]:
    """A workflow step's `slack#/types/user_context` input, as Slack fills it in."""
    return {"id": user_id, "secret": "user-context-secret"}


def button_value(meeting_id: str, shown_at: float | None = None) -> str:
    """A stop button's value as the bot writes it: `<meeting-id>|<shown at>`."""
    return f"{meeting_id}|{int(time.time() if shown_at is None else shown_at)}"


def button_click(
    value: str, user_id: str, response_url: str | None, channel_id: str = "C0OPS"
) -> dict[str, Any]:
    """A block_actions payload for a press of a stop button carrying `value` (a bare
    meeting ID gets the current time, as the bot's buttons carry)."""
    if "|" not in value and len(value) == 36:
        value = button_value(value)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "acme"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": channel_id},
        "trigger_id": "1.2.3",
        "channel": {"id": channel_id, "name": "ops"},
        "message": {"type": "message", "ts": "1.1", "text": "stop?"},
        "actions": [
            {
                "action_id": "stop_livestream",
                "block_id": "b1",
                "type": "button",
                "value": value,
                "action_ts": "1.2",
            }
        ],
    }
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def function_executed(
    inputs: dict[str, Any], execution_id: str = "Fx0001", event_id: str = "Ev0001"
) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T0TEAM",
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": {
            "type": "function_executed",
            "function": {
                "id": "Fn0STOP",
                "callback_id": "stop_livestream",
                "title": "Stop a livestream",
                "type": "app",
                "app_id": "A0APP",
            },
            "inputs": inputs,
            "function_execution_id": execution_id,
            "workflow_execution_id": "Wx0001",
            "event_ts": "1.3",
            "bot_access_token": "xwfp-workflow-token-hunter2",
        },
    }


def form_body(fields: dict[str, str]) -> str:
    return urlencode(fields)


def action_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})
