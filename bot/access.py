"""Who may stop what, where, and how often: deny by default, never allow on error."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cachetools import TTLCache

DenialReason = Literal[
    "not_allowed", "channel_not_allowed", "membership_unknown", "rate_limited", "expired",
    "disabled", "not_on_stop_all_list", "summary_gone",  # the last three: stop-all's own
]  # fmt: skip

# People whose last minute of stops is remembered at once (the least recent go first).
RATE_LIMIT_PEOPLE = 10_000


class GroupLookupError(Exception):
    """A user group's members could not be read; `reason` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GroupDirectory(Protocol):
    """Reads the members of a Slack user group."""

    async def members(self, group_id: str, team_id: str | None) -> frozenset[str]:
        """Member user IDs (`team_id`: the workspace asking, which an org-wide install
        must name); raise GroupLookupError when they cannot be read."""
        ...


@dataclass(frozen=True)
class Denial:
    """Why a person may not act; `retry_after` for the per-person limit."""

    reason: DenialReason
    detail: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class Policy:
    """The allowlists, as configured."""

    user_ids: frozenset[str]
    usergroup_ids: frozenset[str] = frozenset()
    channel_ids: frozenset[str] | None = None


class Access:
    """Applies a Policy, resolving user groups through a directory (which caches)."""

    def __init__(self, policy: Policy, directory: GroupDirectory | None = None) -> None:
        self.policy = policy
        self._directory = directory

    async def check(
        self, user_id: str, channel_id: str | None, team_id: str | None = None
    ) -> Denial | None:
        """None when `user_id` may act in `channel_id`, else the Denial."""
        allowed_channels = self.policy.channel_ids
        if allowed_channels is not None and channel_id not in allowed_channels:
            return Denial("channel_not_allowed")
        if user_id in self.policy.user_ids:
            return None
        for group_id in sorted(self.policy.usergroup_ids):
            if self._directory is None:
                return Denial(
                    "membership_unknown",
                    f"user group {group_id}: no Slack client to read user groups with",
                )
            try:
                members = await self._directory.members(group_id, team_id)
            except GroupLookupError as error:
                return Denial("membership_unknown", f"user group {group_id}: {error.reason}")
            if user_id in members:
                return None
        return Denial("not_allowed")


@dataclass
class RateLimit:
    """At most `per_minute` actions per key in any `window` s (stops per person in a
    minute, or API requests in RealtimeKit's window); 0 turns it off."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    window: float = 60.0
    _seen: TTLCache[str, list[float]] = field(init=False)

    def __post_init__(self) -> None:
        # Someone is forgotten a window after their last action, when none of it counts.
        self._seen = TTLCache(RATE_LIMIT_PEOPLE, self.window, timer=self.clock)

    def take(self, user_id: str) -> float | None:
        """Count one action for `user_id`; None if allowed, else seconds until allowed."""
        if self.per_minute <= 0:
            return None
        now = self.clock()
        # A list pruned in place (bisect, then one C-level delete): cheap for the API's
        # window of 3,500 (a tuple rebuilt per take cost 420 ms of the event loop for
        # 3,500 calls) and a tenth of a deque's size for each person remembered.
        times = self._seen.get(user_id) or []
        del times[: bisect.bisect_right(times, now - self.window)]
        if len(times) >= self.per_minute:
            return max(0.0, times[0] + self.window - now)
        times.append(now)
        self._seen[user_id] = times  # set again: the person's window starts over
        return None
