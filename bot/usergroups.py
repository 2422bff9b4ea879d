"""Slack user group membership, read with usergroups.users.list and cached."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import GroupLookupError
from bot.cache import Cache

GROUP_CACHE_SECONDS = 300.0


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code ("invalid_auth", ...), or the HTTP status when there is none."""
    data = error.response.data if error.response is not None else None
    code = data.get("error") if isinstance(data, dict) else None
    return str(code) if code else f"HTTP {error.response.status_code}"


class SlackGroups:
    """User group membership through usergroups.users.list (a GroupDirectory), kept
    `cache_seconds`; concurrent reads of one group share one call."""

    def __init__(
        self,
        client: AsyncWebClient,
        cache_seconds: float = GROUP_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._cache: Cache[tuple[str, str | None], frozenset[str]] = Cache(
            cache_seconds, timer=clock
        )

    async def members(self, group_id: str, team_id: str | None) -> frozenset[str]:
        """Member user IDs; `team_id` is required by Slack for an org-wide install."""
        return await self._cache.load((group_id, team_id), lambda: self._read(group_id, team_id))

    async def _read(self, group_id: str, team_id: str | None) -> frozenset[str]:
        try:
            response = await self._client.usergroups_users_list(
                usergroup=group_id, team_id=team_id or None
            )
        except SlackApiError as error:
            code = slack_error_code(error)
            hint = " (the app needs the usergroups:read scope)" if code == "missing_scope" else ""
            raise GroupLookupError(f"Slack said {code}{hint}") from None
        except (aiohttp.ClientError, TimeoutError):
            raise GroupLookupError("Slack did not answer") from None
        users = response.get("users")
        if not isinstance(users, list):
            raise GroupLookupError("Slack's answer had no member list")
        return frozenset(str(u) for u in users)
