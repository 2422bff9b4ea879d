"""manifest.yml against Slack's official JSON Schema for app manifests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "tests" / "data" / "slack-manifest-schema"


def _schema() -> dict[str, Any]:
    path = SCHEMA_DIR / "manifest.schema.2.0.0.json"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def _manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return manifest


def test_manifest_validates_against_slacks_schema() -> None:
    jsonschema.Draft7Validator(_schema()).validate(_manifest())


def test_the_schema_check_can_fail() -> None:
    broken = copy.deepcopy(_manifest())
    broken["functions"]["stop_livestream"]["surprise"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(_schema()).validate(broken)


def test_manifest_declares_all_three_doors_and_the_scopes() -> None:
    manifest = _manifest()
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/stop-livestream"
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert "function_executed" in settings["event_subscriptions"]["bot_events"]
    step = manifest["functions"]["stop_livestream"]
    # The person is whoever ran the workflow, never a user a workflow's builder typed in.
    assert (
        step["input_parameters"]["properties"]["user_context"]["type"]
        == "slack#/types/user_context"
    )
    assert "user_id" not in step["input_parameters"]["properties"]
    assert step["input_parameters"]["properties"]["channel_id"]["type"] == "slack#/types/channel_id"
    assert set(step["input_parameters"]["required"]) == {"user_context"}
    assert step["input_parameters"]["properties"]["meeting_name"]["type"] == "string"
    assert set(step["output_parameters"]["properties"]) == {"message", "meeting_id"}
    assert {"commands", "chat:write", "chat:write.public"} <= set(
        manifest["oauth_config"]["scopes"]["bot"]
    )


def test_manifest_declares_the_shortcut_and_the_options_load_url() -> None:
    manifest = _manifest()
    [shortcut] = manifest["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("global", "stop_livestream_shortcut")
    interactivity = manifest["settings"]["interactivity"]
    # Type-ahead options come to the same path as every other request.
    assert interactivity["message_menu_options_url"] == interactivity["request_url"]
    assert interactivity["request_url"].endswith("/slack/events")


def test_the_app_can_check_a_channel_and_message_the_person() -> None:
    manifest = _manifest()
    # conversations.info before the shortcut's modal closes: public and private channels.
    assert {"channels:read", "groups:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    # A post that fails is sent to the person in the app's Messages tab.
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
