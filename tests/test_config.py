"""Settings: every problem reported at once, by name, never by value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, default_mode, load_settings, read_environment

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-hunter2",
    "SLACK_SIGNING_SECRET": "sign-hunter2",
    "CLOUDFLARE_API_TOKEN": "cf-hunter2",
    "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
    "REALTIMEKIT_APP_ID": "app-1",
    "ALLOWED_USER_IDS": "U01,W02  U03",
}


def problems(env: dict[str, str], mode: str = "http") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env, mode)  # type: ignore[arg-type]
    return caught.value.problems


def test_good_settings_and_defaults() -> None:
    settings = load_settings(GOOD, "http")
    assert settings.allowed_user_ids == {"U01", "W02", "U03"}
    assert settings.cloudflare_api_base_url == "https://api.cloudflare.com/client/v4"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.cloudflare_timeout_seconds == 10
    assert settings.port == 3000
    assert settings.cloudflare_max_concurrency == 50


def test_every_problem_is_reported_at_once_without_values() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-hunter2",
        "CLOUDFLARE_ACCOUNT_ID": "a" * 33,
        "REALTIMEKIT_APP_ID": "../x",
        "CLOUDFLARE_TIMEOUT_SECONDS": "soon",
        "PORT": "70000",
        "SLACK_API_URL": "ftp://x",
    }
    found = problems(env)
    text = "\n".join(found)
    for name in [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_ACCOUNT_ID",
        "REALTIMEKIT_APP_ID",
        "ALLOWED_USER_IDS",
        "CLOUDFLARE_TIMEOUT_SECONDS",
        "PORT",
        "SLACK_API_URL",
    ]:
        assert name in text
    assert len(found) == 9
    assert "hunter2" not in text and "../x" not in text and "soon" not in text


def test_empty_allowlist_is_a_configuration_error() -> None:
    [problem] = problems({**GOOD, "ALLOWED_USER_IDS": " , "})
    assert "ALLOWED_USER_IDS is empty" in problem


def test_malformed_user_ids_are_rejected() -> None:
    [problem] = problems({**GOOD, "ALLOWED_USER_IDS": "U01, alice"})
    assert "ALLOWED_USER_IDS" in problem and "alice" not in problem


def test_socket_mode_needs_an_app_token_but_no_signing_secret() -> None:
    env = {k: v for k, v in GOOD.items() if k != "SLACK_SIGNING_SECRET"}
    [problem] = problems(env, "socket")
    assert "SLACK_APP_TOKEN" in problem
    assert (
        load_settings({**env, "SLACK_APP_TOKEN": "xapp-1"}, "socket").slack_signing_secret is None
    )


def test_mode_follows_the_app_token() -> None:
    assert default_mode({"SLACK_APP_TOKEN": "xapp-1"}) == "socket"
    assert default_mode({}) == "http"


def test_secrets_never_format_as_their_value() -> None:
    settings = load_settings(GOOD, "http")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    assert "hunter2" not in f"{Secret('xoxb-hunter2')}"
    assert settings.cloudflare_api_token.get() == "cf-hunter2"


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=4000\nREALTIMEKIT_APP_ID=from-file\n")
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.delenv("REALTIMEKIT_APP_ID", raising=False)
    merged = read_environment(env_file)
    assert merged["PORT"] == "5000"
    assert merged["REALTIMEKIT_APP_ID"] == "from-file"
