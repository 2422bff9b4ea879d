"""Settings from the environment and `.env`, validated in one place.

Every problem is collected and reported at once, naming the variable and what
is wrong with it, never its value.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

Mode = Literal["http", "socket"]
LogFormat = Literal["text", "json"]
_N = TypeVar("_N", int, float)

DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}", re.ASCII)
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}", re.ASCII)
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}", re.ASCII)
# Anything that ends up in the API path must not be able to change it.
_PATH_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
# .env.example's placeholders: a token holding "..." and these IDs were never filled in.
_PLACEHOLDER = "..."
_EXAMPLE_IDS = frozenset({"U0123456789", "S0123456789", "C0123456789"})
_STATE_SCHEMES = ("redis", "rediss", "unix")


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
    allowed_stop_all_user_ids: frozenset[str] = frozenset()
    allowed_stop_all_usergroup_ids: frozenset[str] = frozenset()
    state_url: Secret | None = None
    metrics_port: int | None = None
    # For tests only: how long a copy may hold a meeting's stop (None: the default, the
    # API call budget + 5 s). Lower than a real call can take, two copies may both call.
    stop_lock_seconds: float | None = None
    log_format: LogFormat = "text"


def read_environment(
    env_file: str | os.PathLike[str] | None = ".env", *, must_exist: bool = False
) -> dict[str, str]:
    """The process environment over the `.env` file: where both set a variable, the
    real environment wins. A missing file is fine unless `must_exist`; a file that
    cannot be read as UTF-8 text raises ConfigError naming it."""
    merged: dict[str, str] = {}
    if env_file is not None:
        path = Path(env_file)
        if path.is_file():
            try:
                values = dotenv_values(path, encoding="utf-8")
            except UnicodeDecodeError:
                raise ConfigError([f"{path} is not UTF-8 text"]) from None
            except OSError as error:
                raise ConfigError([f"{path} cannot be read: {error.strerror}"]) from None
            merged.update({k: v for k, v in values.items() if v is not None})
        elif must_exist:
            what = "is not a file" if path.exists() else "does not exist"
            raise ConfigError([f"the env file {path} {what}"])
    merged.update(os.environ)
    return merged


def default_mode(env: Mapping[str, str]) -> Mode:
    """Socket Mode when an app token is set (not .env.example's placeholder), HTTP
    otherwise."""
    app_token = env.get("SLACK_APP_TOKEN", "").strip()
    return "socket" if app_token and not is_placeholder(app_token) else "http"


def is_placeholder(value: str) -> bool:
    """True for a value still holding .env.example's `...` placeholder."""
    return _PLACEHOLDER in value


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
    if is_placeholder(bot_token):
        problems.append(_example("SLACK_BOT_TOKEN", "put the Bot User OAuth Token there"))
    elif bot_token and not bot_token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN does not look like a bot token: it must start with xoxb-")

    signing_secret = text("SLACK_SIGNING_SECRET")
    if is_placeholder(signing_secret):
        problems.append(_example("SLACK_SIGNING_SECRET", "put the Signing Secret there"))
    elif mode == "http" and not signing_secret:
        problems.append(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify requests "
            "(Basic Information > App Credentials)"
        )

    app_token = text("SLACK_APP_TOKEN")
    if is_placeholder(app_token):
        problems.append(
            _example(
                "SLACK_APP_TOKEN",
                "put an app-level token (xapp-...) there for Socket Mode, or leave it empty "
                "for HTTP mode",
            )
        )
    elif mode == "socket" and not app_token:
        problems.append(
            "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) "
            "with the connections:write scope"
        )
    elif app_token and not app_token.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN does not look like an app-level token: it must start with xapp-"
        )

    api_token = required("CLOUDFLARE_API_TOKEN", "a Cloudflare API token with Realtime permission")
    if is_placeholder(api_token):
        problems.append(_example("CLOUDFLARE_API_TOKEN", "put a Cloudflare API token there"))
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
    stop_all_users = _ids(
        env, "ALLOWED_STOP_ALL_USER_IDS", _USER_ID, "Slack user IDs (U... or W...)", problems
    )
    stop_all_groups = _ids(
        env, "ALLOWED_STOP_ALL_USERGROUP_IDS", _GROUP_ID, "user group IDs (S...)", problems
    )
    log_level = text("LOG_LEVEL").upper() or "INFO"
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
    log_format: LogFormat = "text"
    match text("LOG_FORMAT").lower():
        case "" | "text":
            pass
        case "json":
            log_format = "json"
        case _:
            problems.append("LOG_FORMAT must be text or json")

    base_url = _url(
        env, "CLOUDFLARE_API_BASE_URL", DEFAULT_API_BASE_URL, "Cloudflare API token", problems
    )
    slack_url = _url(env, "SLACK_API_URL", DEFAULT_SLACK_API_URL, "Slack bot token", problems)
    if not slack_url.endswith("/"):
        slack_url += "/"

    timeout = _number(env, "CLOUDFLARE_TIMEOUT_SECONDS", 10.0, float, 0.1, 120.0, problems)
    concurrency = _number(env, "CLOUDFLARE_MAX_CONCURRENCY", 50, int, 1, 1000, problems)
    port = _number(env, "PORT", 3000, int, 1, 65535, problems)
    per_minute = _number(env, "RATE_LIMIT_PER_USER_PER_MINUTE", 10, int, 0, 10_000, problems)
    slack_timeout = _number(env, "SLACK_TIMEOUT_SECONDS", 10.0, float, 0.1, 60.0, problems)
    metrics_port = (
        _number(env, "METRICS_PORT", 0, int, 1, 65535, problems) if text("METRICS_PORT") else None
    )
    stop_lock = (
        _number(env, "STOP_LOCK_SECONDS", 0.0, float, 0.5, 600.0, problems)
        if text("STOP_LOCK_SECONDS")
        else None
    )
    state_url = text("STATE_URL")
    if state_url:
        _check_state_url(state_url, problems)

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
        allowed_stop_all_user_ids=stop_all_users,
        allowed_stop_all_usergroup_ids=stop_all_groups,
        state_url=Secret(state_url) if state_url else None,
        metrics_port=metrics_port,
        stop_lock_seconds=stop_lock,
        log_format=log_format,
    )


def _example(name: str, fix: str) -> str:
    return f"{name} is still the example value from .env.example: {fix}"


def _ids(
    env: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str, problems: list[str]
) -> frozenset[str]:
    ids = frozenset(re.split(r"[\s,]+", env.get(name, "").strip())) - {""}
    bad = [i for i in ids if not pattern.fullmatch(i)]
    if bad:
        entries = "entry that is not" if len(bad) == 1 else "entries that are not"
        problems.append(f"{name} has {len(bad)} {entries} {what}, upper case")
    for example in sorted(ids & _EXAMPLE_IDS):
        # The ID is .env.example's own, not a secret: naming it shows what to replace.
        problems.append(
            f"{name} still holds {example}, the example value from .env.example: "
            f"replace it with real {what}"
        )
    return ids


def _url(env: Mapping[str, str], name: str, default: str, carries: str, problems: list[str]) -> str:
    value = env.get(name, "").strip() or default
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        problems.append(f"{name} must be an http:// or https:// URL")
        return value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        problems.append(f"{name} is not a valid URL")
        return value
    if value.startswith("http://") and not _is_loopback(host):
        problems.append(
            f"{name} must be an https:// URL: over http:// the {carries} would cross the "
            "network in clear (http:// is allowed only to a loopback host: 127.0.0.0/8, ::1 "
            "or localhost)"
        )
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_state_url(value: str, problems: list[str]) -> None:
    # The URL may hold a password: no message here may include any part of it.
    schemes = "a redis://, rediss:// or unix:// URL"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        problems.append(f"STATE_URL must be {schemes} with a port from 1 to 65535")
        return
    if parts.scheme not in _STATE_SCHEMES or re.search(r"\s", value):
        problems.append(f"STATE_URL must be {schemes}")
    elif parts.scheme == "unix" and not parts.path:
        problems.append("STATE_URL: a unix:// URL needs the socket path (unix:///path/to/socket)")
    elif port == 0:
        problems.append(f"STATE_URL must be {schemes} with a port from 1 to 65535")


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
