"""Reading environment variables one at a time: each check notes its problem by the
variable's name, never by its value, and a secret is kept in a Secret."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import urlsplit

_N = TypeVar("_N", int, float)
_D = TypeVar("_D")

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


def is_placeholder(value: str) -> bool:
    """True for a value still holding .env.example's `...` placeholder."""
    return _PLACEHOLDER in value


class Reader:
    """Reads variables from `env`, noting each problem (by name, never by value)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str:
        """The variable, stripped; empty when unset."""
        return self.env.get(name, "").strip()

    def token(
        self, name: str, fix: str, *, missing: str | None, prefix: tuple[str, str] | None = None
    ) -> str:
        """A secret: not .env.example's placeholder, set when `missing` says why it must be,
        and starting with `prefix` when one is given."""
        value = self.text(name)
        if is_placeholder(value):
            self.problems.append(f"{name} is still the example value from .env.example: {fix}")
        elif not value and missing:
            self.problems.append(f"{name} is not set: {missing}")
        elif value and prefix and not value.startswith(prefix[0]):
            self.problems.append(
                f"{name} does not look like {prefix[1]}: it must start with {prefix[0]}"
            )
        return value

    def path_id(self, name: str, what: str) -> str:
        """A required ID that ends up in the API path, so must not be able to change it."""
        value = self.text(name)
        if not value:
            self.problems.append(f"{name} is not set: {what}")
        elif not _PATH_SAFE_ID.fullmatch(value):
            self.problems.append(f"{name} must be at most 32 letters, digits, '-' or '_'")
        return value

    def ids(self, name: str, shape: tuple[re.Pattern[str], str]) -> frozenset[str]:
        """Slack IDs separated by commas or spaces, each of `shape`, none .env.example's."""
        pattern, what = shape
        ids = frozenset(re.split(r"[\s,]+", self.text(name))) - {""}
        bad = [i for i in ids if not pattern.fullmatch(i)]
        if bad:
            entries = "entry that is not" if len(bad) == 1 else "entries that are not"
            self.problems.append(f"{name} has {len(bad)} {entries} {what}, upper case")
        for example in sorted(ids & _EXAMPLE_IDS):
            # The ID is .env.example's own, not a secret: naming it shows what to replace.
            self.problems.append(
                f"{name} still holds {example}, the example value from .env.example: "
                f"replace it with real {what}"
            )
        return ids

    def choice(self, name: str, options: Mapping[str, _D], default: _D, must: str) -> _D:
        """One of `options` (any case), or `default` when unset."""
        value = self.text(name).lower()
        if value and value not in options:
            self.problems.append(f"{name} must be {must}")
        return options.get(value, default)

    def number(self, name: str, default: _D, low: _N, high: _N) -> _N | _D:
        """A number of `low`'s kind from `low` to `high`, or `default` when unset."""
        raw = self.text(name)
        if not raw:
            return default
        kind = type(low)
        try:
            value = kind(raw)
        except ValueError:
            self.problems.append(f"{name} must be a {'whole ' if kind is int else ''}number")
            return default
        if not low <= value <= high:
            self.problems.append(f"{name} must be between {low} and {high}")
            return default
        return value

    def url(self, name: str, default: str, carries: str) -> str:
        """An https:// URL (http:// only to loopback: it carries a token), without a final /."""
        value = self.text(name) or default
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            self.problems.append(f"{name} must be an http:// or https:// URL")
            return value
        try:
            host = urlsplit(value).hostname or ""
        except ValueError:
            self.problems.append(f"{name} is not a valid URL")
            return value
        if value.startswith("http://") and not _is_loopback(host):
            self.problems.append(
                f"{name} must be an https:// URL: over http:// the {carries} would cross the "
                "network in clear (http:// is allowed only to a loopback host: 127.0.0.0/8, ::1 "
                "or localhost)"
            )
        return value.rstrip("/")

    def state_url(self) -> Secret | None:
        """STATE_URL, which may hold a password: no problem may include any part of it."""
        value = self.text("STATE_URL")
        schemes = "a redis://, rediss:// or unix:// URL"
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            self.problems.append(f"STATE_URL must be {schemes} with a port from 1 to 65535")
            return None
        if not value:
            return None
        if parts.scheme not in _STATE_SCHEMES or re.search(r"\s", value):
            self.problems.append(f"STATE_URL must be {schemes}")
        elif parts.scheme == "unix" and not parts.path:
            self.problems.append(
                "STATE_URL: a unix:// URL needs the socket path (unix:///path/to/socket)"
            )
        elif port == 0:
            self.problems.append(f"STATE_URL must be {schemes} with a port from 1 to 65535")
        return Secret(value)


def _is_loopback(host: str) -> bool:
    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
