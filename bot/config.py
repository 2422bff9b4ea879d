"""Settings from the environment and `.env`, validated in one place.

Every problem is collected and reported at once, naming the variable and what
is wrong with it, never its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from dotenv import dotenv_values

Mode = Literal["http", "socket"]
_N = TypeVar("_N", int, float)

DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}", re.ASCII)
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}", re.ASCII)
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}", re.ASCII)
# Anything that ends up in the API path must not be able to change it.
_PATH_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)


class Secret:
    """A secret string that never formats as its value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


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


def read_environment(env_file: str | os.PathLike[str] | None = ".env") -> dict[str, str]:
    """The process environment over the `.env` file: where both set a variable, the
    real environment wins."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def default_mode(env: Mapping[str, str]) -> Mode:
    """Socket Mode when an app token is set, HTTP otherwise."""
    return "socket" if env.get("SLACK_APP_TOKEN", "").strip() else "http"


def load_settings(env: Mapping[str, str], mode: Mode) -> Settings:
    """Validate `env` for running in `mode`; raise ConfigError listing every problem."""
    problems: list[str] = []

    def text(name: str) -> str:
        return env.get(name, "").strip()

    def required(name: str, what: str) -> str:
        value = text(name)
        if not value:
            problems.append(f"{name} is not set: {what}")
        return value

    bot_token = required("SLACK_BOT_TOKEN", "the bot token (xoxb-...) from OAuth & Permissions")
    if bot_token and not bot_token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN does not look like a bot token: it must start with xoxb-")

    signing_secret = text("SLACK_SIGNING_SECRET")
    if mode == "http" and not signing_secret:
        problems.append(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify requests "
            "(Basic Information > App Credentials)"
        )

    app_token = text("SLACK_APP_TOKEN")
    if mode == "socket" and not app_token:
        problems.append(
            "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
            "with the connections:write scope"
        )
    if app_token and not app_token.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN does not look like an app-level token: it must start with xapp-"
        )

    api_token = required("CLOUDFLARE_API_TOKEN", "a Cloudflare API token with Realtime permission")
    account_id = required("CLOUDFLARE_ACCOUNT_ID", "the Cloudflare account ID")
    if account_id and not _PATH_SAFE_ID.fullmatch(account_id):
        problems.append("CLOUDFLARE_ACCOUNT_ID must be at most 32 letters, digits, '-' or '_'")
    app_id = required("REALTIMEKIT_APP_ID", "the RealtimeKit app ID")
    if app_id and not _PATH_SAFE_ID.fullmatch(app_id):
        problems.append("REALTIMEKIT_APP_ID must be at most 32 letters, digits, '-' or '_'")

    users = _ids(env, "ALLOWED_USER_IDS", _USER_ID, "Slack user IDs (U... or W...)", problems)
    groups = _ids(env, "ALLOWED_USERGROUP_IDS", _GROUP_ID, "user group IDs (S...)", problems)
    channels = _ids(
        env, "ALLOWED_CHANNEL_IDS", _CHANNEL_ID, "channel IDs (C..., G... or D...)", problems
    )
    if not users and not groups and not any("ALLOWED_" in p for p in problems):
        problems.append(
            "ALLOWED_USER_IDS is empty: nobody could stop a livestream; list Slack user IDs "
            "(U... or W...), separated by commas or spaces, or set ALLOWED_USERGROUP_IDS"
        )
    log_level = text("LOG_LEVEL").upper() or "INFO"
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

    base_url = _url(env, "CLOUDFLARE_API_BASE_URL", DEFAULT_API_BASE_URL, problems)
    slack_url = _url(env, "SLACK_API_URL", DEFAULT_SLACK_API_URL, problems)
    if not slack_url.endswith("/"):
        slack_url += "/"

    timeout = _number(env, "CLOUDFLARE_TIMEOUT_SECONDS", 10.0, float, 0.1, 120.0, problems)
    concurrency = _number(env, "CLOUDFLARE_MAX_CONCURRENCY", 50, int, 1, 1000, problems)
    port = _number(env, "PORT", 3000, int, 1, 65535, problems)
    per_minute = _number(env, "RATE_LIMIT_PER_USER_PER_MINUTE", 10, int, 0, 10_000, problems)
    slack_timeout = _number(env, "SLACK_TIMEOUT_SECONDS", 10.0, float, 0.1, 60.0, problems)

    confirm_text = text("REQUIRE_CONFIRMATION").lower() or "false"
    if confirm_text not in _BOOLEANS:
        problems.append("REQUIRE_CONFIRMATION must be true or false")

    if problems:
        raise ConfigError(problems)
    return Settings(
        slack_bot_token=Secret(bot_token),
        slack_signing_secret=Secret(signing_secret) if signing_secret else None,
        slack_app_token=Secret(app_token) if app_token else None,
        cloudflare_api_token=Secret(api_token),
        cloudflare_account_id=account_id,
        realtimekit_app_id=app_id,
        allowed_user_ids=users,
        allowed_usergroup_ids=groups,
        allowed_channel_ids=channels or None,
        rate_limit_per_user_per_minute=int(per_minute),
        audit_log_file=text("AUDIT_LOG_FILE") or None,
        log_level=log_level,
        slack_timeout_seconds=float(slack_timeout),
        require_confirmation=_BOOLEANS.get(confirm_text, False),
        cloudflare_api_base_url=base_url.rstrip("/"),
        slack_api_url=slack_url,
        cloudflare_timeout_seconds=float(timeout),
        cloudflare_max_concurrency=int(concurrency),
        port=int(port),
    )


def _ids(
    env: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str, problems: list[str]
) -> frozenset[str]:
    ids = frozenset(re.split(r"[\s,]+", env.get(name, "").strip())) - {""}
    bad = [i for i in ids if not pattern.fullmatch(i)]
    if bad:
        entries = "entry that is not" if len(bad) == 1 else "entries that are not"
        problems.append(f"{name} has {len(bad)} {entries} {what}, upper case")
    return ids


def _url(env: Mapping[str, str], name: str, default: str, problems: list[str]) -> str:
    value = env.get(name, "").strip() or default
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        problems.append(f"{name} must be an http:// or https:// URL")
    return value


def _number(
    env: Mapping[str, str],
    name: str,
    default: _N,
    kind: type[_N],
    low: _N,
    high: _N,
    problems: list[str],
) -> _N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        problems.append(f"{name} must be a {'whole ' if kind is int else ''}number")
        return default
    if not low <= value <= high:
        problems.append(f"{name} must be between {low} and {high}")
        return default
    return value
