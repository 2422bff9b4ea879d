"""Slack user group membership, read with usergroups.users.list."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import GroupLookupError


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code ("invalid_auth", ...), or the HTTP status when there is none."""
    data = error.response.data if error.response is not None else None
    code = data.get("error") if isinstance(data, dict) else None
    return str(code) if code else f"HTTP {error.response.status_code}"


class SlackGroups:
    """User group membership through usergroups.users.list (a GroupDirectory)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def members(self, group_id: str, team_id: str | None) -> frozenset[str]:
        """Member user IDs; `team_id` is required by Slack for an org-wide install."""
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
