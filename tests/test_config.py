"""Settings: every problem reported at once, by name, never by value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, default_mode, load_settings, read_environment
from bot.env import Secret

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


# A bot (B...), or longer than a request's ID may be (bot.slack_ids), could never act.
@pytest.mark.parametrize("user_id", ["alice", "u01", "B0BOT", "U" + "0" * 31])
def test_malformed_user_ids_are_rejected(user_id: str) -> None:
    [problem] = problems({**GOOD, "ALLOWED_USER_IDS": f"U01, {user_id}"})
    assert problem.startswith("ALLOWED_USER_IDS has 1 entry that is not Slack user IDs")
    assert user_id not in problem


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


# ---------------------------------------------------------------- tokens in clear


@pytest.mark.parametrize("name", ["CLOUDFLARE_API_BASE_URL", "SLACK_API_URL"])
@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/client/v4",
        "http://10.0.0.5:8080/",
        "http://127.0.0.1@evil.example/",  # the host is evil.example, 127.0.0.1 is a user
        "http://127.0.0.1.evil.example/",
        "http://[2001:db8::1]/",
    ],
)
def test_http_to_a_remote_host_is_refused_since_the_token_would_travel_in_clear(
    name: str, url: str
) -> None:
    [problem] = problems({**GOOD, name: url})
    assert problem.startswith(f"{name} must be an https:// URL")
    assert "in clear" in problem and "loopback" in problem
    assert "example" not in problem and "10.0.0.5" not in problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/client/v4",
        "http://127.45.6.7/",
        "http://[::1]:9000/api/",
        "http://localhost:1234",
        "http://LOCALHOST/",
        "https://api.example.com/client/v4",
    ],
)
def test_http_stays_allowed_to_loopback_and_https_anywhere(url: str) -> None:
    settings = load_settings({**GOOD, "CLOUDFLARE_API_BASE_URL": url, "SLACK_API_URL": url}, "http")
    assert settings.cloudflare_api_base_url == url.rstrip("/")


# ----------------------------------------------------------- .env.example's values

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_env_example_as_shipped_fails_on_each_example_value_by_name() -> None:
    from dotenv import dotenv_values

    shipped = {k: v for k, v in dotenv_values(EXAMPLE).items() if v is not None}
    # Fill in only what .env.example leaves empty; its placeholders stay.
    env = {**shipped, **{k: GOOD[k] for k in GOOD if not shipped.get(k)}}
    assert default_mode(env) == "http"  # the xapp-... placeholder does not pick Socket Mode
    found = problems(env, default_mode(env))
    assert found == [
        "SLACK_BOT_TOKEN is still the example value from .env.example: "
        "put the Bot User OAuth Token there",
        "SLACK_APP_TOKEN is still the example value from .env.example: put an app-level "
        "token (xapp-...) there for Socket Mode, or leave it empty for HTTP mode",
        "ALLOWED_USER_IDS still holds U0123456789, the example value from .env.example: "
        "replace it with real Slack user IDs (U... or W...)",
    ]


@pytest.mark.parametrize(
    "name", ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "CLOUDFLARE_API_TOKEN"]
)
def test_any_token_holding_three_dots_is_the_placeholder(name: str) -> None:
    prefix = {"SLACK_BOT_TOKEN": "xoxb-", "SLACK_APP_TOKEN": "xapp-"}.get(name, "")
    [problem] = problems({**GOOD, name: f"{prefix}paste-here...-hunter2"}, "http")
    assert problem.startswith(f"{name} is still the example value")
    assert "hunter2" not in problem


def test_placeholder_app_token_does_not_switch_to_socket_mode() -> None:
    assert default_mode({"SLACK_APP_TOKEN": "xapp-..."}) == "http"
    assert default_mode({"SLACK_APP_TOKEN": " xapp-1-A0... "}) == "http"
    assert default_mode({"SLACK_APP_TOKEN": "xapp-1-real"}) == "socket"


def test_example_ids_in_the_other_allowlists_are_named_too() -> None:
    env = {
        **GOOD,
        "ALLOWED_USERGROUP_IDS": "S0123456789",
        "ALLOWED_CHANNEL_IDS": "C0OPS C0123456789",
    }
    found = problems(env)
    assert [p.split(" ", 1)[0] for p in found] == ["ALLOWED_USERGROUP_IDS", "ALLOWED_CHANNEL_IDS"]
    assert all("example value from .env.example" in p for p in found)


# ------------------------------------------------------------------ the .env file


def test_non_utf8_dotenv_is_a_configuration_error_naming_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / "latin1.env"
    env_file.write_bytes("ALLOWED_USER_IDS=U01 # équipe\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        read_environment(env_file)
    assert caught.value.problems == [f"{env_file} is not UTF-8 text"]


def test_missing_dotenv_is_fine_unless_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALLOWED_USER_IDS", raising=False)
    assert "ALLOWED_USER_IDS" not in read_environment()  # the default .env may be absent
    absent = tmp_path / "absent.env"
    with pytest.raises(ConfigError) as caught:
        read_environment(absent)
    assert caught.value.problems == [f"the env file {absent} does not exist"]
    with pytest.raises(ConfigError) as caught:
        read_environment(tmp_path)
    assert caught.value.problems == [f"the env file {tmp_path} is not a file"]


# --------------------------------------------------------- settings for what comes next


def test_new_settings_default_to_off() -> None:
    settings = load_settings(GOOD, "http")
    assert settings.allowed_stop_all_user_ids == frozenset()
    assert settings.allowed_stop_all_usergroup_ids == frozenset()
    assert settings.state_url is None
    assert settings.metrics_port is None
    assert settings.log_format == "text"


def test_new_settings_are_read() -> None:
    settings = load_settings(
        {
            **GOOD,
            "ALLOWED_STOP_ALL_USER_IDS": "U0LEAD, W0OPS",
            "ALLOWED_STOP_ALL_USERGROUP_IDS": "S0ONCALL",
            "STATE_URL": "rediss://bot:hunter2pw@valkey.internal:6380/0",
            "METRICS_PORT": "9100",
            "LOG_FORMAT": "JSON",
        },
        "http",
    )
    assert settings.allowed_stop_all_user_ids == {"U0LEAD", "W0OPS"}
    assert settings.allowed_stop_all_usergroup_ids == {"S0ONCALL"}
    assert settings.state_url == Secret("rediss://bot:hunter2pw@valkey.internal:6380/0")
    assert settings.metrics_port == 9100
    assert settings.log_format == "json"
    assert "hunter2" not in repr(settings)
    for url in ("redis://localhost", "unix:///run/valkey/valkey.sock", "redis://:pw@[::1]:6379/2"):
        assert load_settings({**GOOD, "STATE_URL": url}, "http").state_url == Secret(url)


def test_bad_new_settings_are_each_named_without_their_values() -> None:
    found = problems(
        {
            **GOOD,
            "ALLOWED_STOP_ALL_USER_IDS": "U0LEAD alice",
            "ALLOWED_STOP_ALL_USERGROUP_IDS": "U0NOTAGROUP",
            "STATE_URL": "https://bot:hunter2pw@valkey.internal/",
            "METRICS_PORT": "0",
            "LOG_FORMAT": "xml",
        }
    )
    assert [p.split(" ", 1)[0] for p in found] == [
        "ALLOWED_STOP_ALL_USER_IDS",
        "ALLOWED_STOP_ALL_USERGROUP_IDS",
        "LOG_FORMAT",
        "METRICS_PORT",
        "STATE_URL",
    ]
    text = "\n".join(found)
    assert "alice" not in text and "U0NOTAGROUP" not in text and "xml" not in text
    assert "hunter2" not in text and "valkey.internal" not in text
    assert "STATE_URL must be a redis://, rediss:// or unix:// URL" in text
    assert "METRICS_PORT must be between 1 and 65535" in text


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://:hunter2pw@valkey:99999/0", "with a port from 1 to 65535"),
        ("redis://:hunter2pw@valkey:port/0", "with a port from 1 to 65535"),
        ("unix://", "needs the socket path"),
        ("redis://:hunter2 pw@valkey/0", "must be a redis://"),
        ("valkey.internal:6379", "must be a redis://"),
    ],
)
def test_malformed_state_url_never_echoes_its_password(url: str, problem: str) -> None:
    [found] = problems({**GOOD, "STATE_URL": url})
    assert found.startswith("STATE_URL") and problem in found
    assert "hunter2" not in found and "valkey" not in found.replace("unix:///", "")


def test_state_url_and_its_password_are_scrubbed_from_logs() -> None:
    import logging

    from bot.cli import secrets_of
    from bot.logs import RedactingFilter

    redact = RedactingFilter(secrets_of({"STATE_URL": "redis://bot:p%40ss-hunter2@valkey:6379/0"}))
    for text in (
        "connecting to redis://bot:p%40ss-hunter2@valkey:6379/0",
        "AUTH bot p@ss-hunter2 failed",
        "password=p%40ss-hunter2",
    ):
        record = logging.LogRecord("redis", logging.DEBUG, __file__, 1, text, None, None)
        redact.filter(record)
        assert "hunter2" not in record.getMessage()
