"""Settings from the environment and `.env`, validated in one place: every problem is
reported at once, naming the variable and what is wrong with it, never its value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values

from bot.env import Reader, Secret, is_placeholder
from bot.slack_ids import CHANNEL_ID, GROUP_ID, USER_ID

Mode = Literal["http", "socket"]
LogFormat = Literal["text", "json"]

DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

_USERS = (USER_ID, "Slack user IDs (U... or W...)")
_GROUPS = (GROUP_ID, "user group IDs (S...)")
_CHANNELS = (CHANNEL_ID, "channel IDs (C..., G... or D...)")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_LOG_LEVELS = {level.lower(): level for level in ("DEBUG", "INFO", "WARNING", "ERROR")}
_LOG_FORMATS: dict[str, LogFormat] = {"text": "text", "json": "json"}


class ConfigError(Exception):
    """The configuration has one or more problems; `problems` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    slack_bot_token: Secret
    slack_signing_secret: Secret | None
    slack_app_token: Secret | None
    cloudflare_api_token: Secret
    cloudflare_account_id: str
    realtimekit_app_id: str
    allowed_user_ids: frozenset[str]
    allowed_usergroup_ids: frozenset[str] = frozenset()
    allowed_channel_ids: frozenset[str] | None = None
    rate_limit_per_user_per_minute: int = 10
    audit_log_file: str | None = None
    log_level: str = "INFO"
    slack_timeout_seconds: float = 10.0
    require_confirmation: bool = False
    cloudflare_api_base_url: str = DEFAULT_API_BASE_URL
    slack_api_url: str = DEFAULT_SLACK_API_URL
    cloudflare_timeout_seconds: float = 10.0
    cloudflare_max_concurrency: int = 50
    cloudflare_retry_backoff_seconds: float = 0.5
    slack_retry_backoff_seconds: float = 0.5
    port: int = 3000
    allowed_stop_all_user_ids: frozenset[str] = frozenset()
    allowed_stop_all_usergroup_ids: frozenset[str] = frozenset()
    state_url: Secret | None = None
    metrics_port: int | None = None
    # For tests only: how long a copy may hold a meeting's stop (None: the default, the
    # API call budget + 5 s). Lower than a real call can take, two copies may both call.
    stop_lock_seconds: float | None = None
    log_format: LogFormat = "text"


def read_environment(env_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The process environment over a dotenv file, `env_file` (which must exist) or else
    `.env` if there is one: where both set a variable, the real environment wins. A file
    that cannot be read as UTF-8 text raises ConfigError naming it."""
    path = Path(env_file or ".env")
    merged: dict[str, str] = {}
    if path.is_file():
        try:
            values = dotenv_values(path, encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError([f"{path} is not UTF-8 text"]) from None
        except OSError as error:
            raise ConfigError([f"{path} cannot be read: {error.strerror}"]) from None
        merged.update({k: v for k, v in values.items() if v is not None})
    elif env_file is not None:  # a typo in --env-file would otherwise go unnoticed
        what = "is not a file" if path.exists() else "does not exist"
        raise ConfigError([f"the env file {path} {what}"])
    return merged | dict(os.environ)


def default_mode(env: Mapping[str, str]) -> Mode:
    """Socket Mode when an app token is set (not .env.example's placeholder), HTTP
    otherwise."""
    app_token = env.get("SLACK_APP_TOKEN", "").strip()
    return "socket" if app_token and not is_placeholder(app_token) else "http"


def load_settings(env: Mapping[str, str], mode: Mode) -> Settings:
    """Validate `env` for running in `mode`; raise ConfigError listing every problem."""
    read = Reader(env)
    bot_token, signing_secret, app_token, api_token = _tokens(read, mode)
    account_id = read.path_id("CLOUDFLARE_ACCOUNT_ID", "the Cloudflare account ID")
    app_id = read.path_id("REALTIMEKIT_APP_ID", "the RealtimeKit app ID")
    users = read.ids("ALLOWED_USER_IDS", _USERS)
    groups = read.ids("ALLOWED_USERGROUP_IDS", _GROUPS)
    channels = read.ids("ALLOWED_CHANNEL_IDS", _CHANNELS)
    if not users and not groups and not any("ALLOWED_" in p for p in read.problems):
        read.problems.append(
            "ALLOWED_USER_IDS is empty: nobody could stop a livestream; list Slack user IDs "
            "(U... or W...), separated by commas or spaces, or set ALLOWED_USERGROUP_IDS"
        )
    # Keyword arguments are read in this order, and their problems listed in it.
    settings = Settings(
        slack_bot_token=Secret(bot_token),
        slack_signing_secret=Secret(signing_secret) if signing_secret else None,
        slack_app_token=Secret(app_token) if app_token else None,
        cloudflare_api_token=Secret(api_token),
        cloudflare_account_id=account_id,
        realtimekit_app_id=app_id,
        allowed_user_ids=users,
        allowed_usergroup_ids=groups,
        allowed_channel_ids=channels or None,
        allowed_stop_all_user_ids=read.ids("ALLOWED_STOP_ALL_USER_IDS", _USERS),
        allowed_stop_all_usergroup_ids=read.ids("ALLOWED_STOP_ALL_USERGROUP_IDS", _GROUPS),
        log_level=read.choice("LOG_LEVEL", _LOG_LEVELS, "INFO", "DEBUG, INFO, WARNING or ERROR"),
        log_format=read.choice("LOG_FORMAT", _LOG_FORMATS, "text", "text or json"),
        cloudflare_api_base_url=read.url(
            "CLOUDFLARE_API_BASE_URL", DEFAULT_API_BASE_URL, "Cloudflare API token"
        ),
        slack_api_url=read.url("SLACK_API_URL", DEFAULT_SLACK_API_URL, "Slack bot token") + "/",
        cloudflare_timeout_seconds=read.number("CLOUDFLARE_TIMEOUT_SECONDS", 10.0, 0.1, 120.0),
        cloudflare_max_concurrency=read.number("CLOUDFLARE_MAX_CONCURRENCY", 50, 1, 1000),
        port=read.number("PORT", 3000, 1, 65535),
        rate_limit_per_user_per_minute=read.number("RATE_LIMIT_PER_USER_PER_MINUTE", 10, 0, 10_000),
        slack_timeout_seconds=read.number("SLACK_TIMEOUT_SECONDS", 10.0, 0.1, 60.0),
        metrics_port=read.number("METRICS_PORT", None, 1, 65535),
        stop_lock_seconds=read.number("STOP_LOCK_SECONDS", None, 0.5, 600.0),
        state_url=read.state_url(),
        require_confirmation=read.choice("REQUIRE_CONFIRMATION", _BOOLEANS, False, "true or false"),
        audit_log_file=read.text("AUDIT_LOG_FILE") or None,
    )
    if read.problems:
        raise ConfigError(read.problems)
    return settings


def _tokens(read: Reader, mode: Mode) -> tuple[str, str, str, str]:
    """The bot token, the signing secret, the app token and the Cloudflare API token."""
    bot_token = read.token(
        "SLACK_BOT_TOKEN",
        "put the Bot User OAuth Token there",
        missing="the bot token (xoxb-...) from OAuth & Permissions",
        prefix=("xoxb-", "a bot token"),
    )
    signing_secret = read.token(
        "SLACK_SIGNING_SECRET",
        "put the Signing Secret there",
        missing="HTTP mode needs it to verify requests (Basic Information > App Credentials)"
        if mode == "http"
        else None,
    )
    app_token = read.token(
        "SLACK_APP_TOKEN",
        "put an app-level token (xapp-...) there for Socket Mode, or leave it empty for HTTP mode",
        missing="Socket Mode needs an app-level token (xapp-...) with the connections:write scope"
        if mode == "socket"
        else None,
        prefix=("xapp-", "an app-level token"),
    )
    api_token = read.token(
        "CLOUDFLARE_API_TOKEN",
        "put a Cloudflare API token there",
        missing="a Cloudflare API token with Realtime permission",
    )
    return bot_token, signing_secret, app_token, api_token
