"""Who may act: user groups, channels, and the per-person rate limit."""

from __future__ import annotations

from typing import cast

from aiohttp import web

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from tests.conftest import ALLOWED, MEETING, STRANGER, LogWatch, StartBot, slack_error


def members(*users: str) -> object:
    async def answer(_: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "users": list(users)})

    return answer


async def test_user_group_member_is_allowed_and_membership_is_cached(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(ALLOWED_USER_IDS="", ALLOWED_USERGROUP_IDS="S0ONCALL")
    slack.answer_api("usergroups.users.list", members(STRANGER))  # type: ignore[arg-type]
    await bot.command(MEETING, STRANGER, response="one")
    await slack.wait_responses(2, "one")
    await bot.command(MEETING, STRANGER, response="two")
    await slack.wait_responses(2, "two")
    [lookup] = slack.calls("usergroups.users.list")
    assert lookup.data["usergroup"] == "S0ONCALL"
    assert len(cloudflare.stop_calls) == 2


async def test_non_member_is_denied(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(ALLOWED_USER_IDS="", ALLOWED_USERGROUP_IDS="S0ONCALL")
    slack.answer_api("usergroups.users.list", members("U0SOMEONE"))  # type: ignore[arg-type]
    await bot.command(MEETING, STRANGER)
    [reply] = await slack.wait_responses(1, "cmd")
    assert "not allowed" in reply["text"]
    assert cloudflare.stop_calls == []


async def test_membership_that_cannot_be_read_denies_and_says_why(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare, logs: LogWatch
) -> None:
    bot = await start_bot(ALLOWED_USER_IDS="U0OTHER", ALLOWED_USERGROUP_IDS="S0ONCALL")
    slack.answer_api("usergroups.users.list", slack_error("missing_scope"))  # type: ignore[arg-type]
    await bot.command(MEETING, STRANGER)
    [reply] = await slack.wait_responses(1, "cmd")
    assert reply["response_type"] == "ephemeral"
    assert "Could not check whether you are in an allowed user group" in reply["text"]
    assert "usergroups:read" in reply["text"]
    assert cloudflare.stop_calls == []
    [record] = logs.audit()
    assert record["reason"] == "membership_unknown"


async def test_outside_the_allowed_channels_the_bot_answers_privately_and_does_nothing(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(ALLOWED_CHANNEL_IDS="C0OPS")
    await bot.command(MEETING, ALLOWED, channel_id="C0RANDOM", response="elsewhere")
    [reply] = await slack.wait_responses(1, "elsewhere")
    assert reply["response_type"] == "ephemeral"
    assert "does not stop livestreams from this channel" in reply["text"]
    assert cloudflare.stop_calls == []
    await bot.command(MEETING, ALLOWED, channel_id="C0OPS", response="here")
    await slack.wait_responses(2, "here")
    assert len(cloudflare.stop_calls) == 1


async def test_per_person_rate_limit_says_when_to_try_again(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(RATE_LIMIT_PER_USER_PER_MINUTE="2")
    for name in ("1", "2"):
        await bot.command(MEETING, ALLOWED, response=name)
        await slack.wait_responses(2, name)
    await bot.command(MEETING, ALLOWED, response="3")
    [reply] = await slack.wait_responses(1, "3")
    assert reply["response_type"] == "ephemeral"
    assert "limit of stops per minute" in reply["text"] and "Try again in" in reply["text"]
    assert len(cloudflare.stop_calls) == 2


async def test_rate_limit_zero_turns_it_off(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    bot = await start_bot(RATE_LIMIT_PER_USER_PER_MINUTE="0")
    for name in map(str, range(12)):
        await bot.command(MEETING, ALLOWED, response=name)
        await slack.wait_responses(2, name)
    assert len(cloudflare.stop_calls) == 12


async def test_group_membership_is_read_again_after_the_cache_expires() -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.access import Access, Policy
    from bot.usergroups import SlackGroups

    now = [0.0]
    calls: list[str] = []

    class Client:
        async def usergroups_users_list(self, usergroup: str, team_id: str | None) -> object:
            calls.append(usergroup)
            return {"ok": True, "users": [STRANGER]}

    groups = SlackGroups(cast(AsyncWebClient, Client()), cache_seconds=300, clock=lambda: now[0])
    access = Access(Policy(frozenset(), frozenset({"S0G"})), groups)
    assert await access.check(STRANGER, None) is None
    now[0] = 299.0
    assert await access.check(STRANGER, None) is None
    assert calls == ["S0G"]
    now[0] = 301.0
    assert await access.check(STRANGER, None) is None
    assert calls == ["S0G", "S0G"]


async def test_one_read_of_a_group_serves_both_the_stop_and_the_stop_all_allowlists(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    cloudflare.go_live(1)
    bot = await start_bot(
        ALLOWED_USER_IDS="",
        ALLOWED_USERGROUP_IDS="S0ONCALL",
        ALLOWED_STOP_ALL_USERGROUP_IDS="S0ONCALL",
    )
    slack.answer_api("usergroups.users.list", members(STRANGER))  # type: ignore[arg-type]
    await bot.command("all", STRANGER, response="confirm")
    [card] = await slack.wait_responses(1, "confirm")
    assert "not allowed" not in card["text"] and "not all at once" not in card["text"]
    assert any(b["type"] == "actions" for b in card["blocks"])  # the confirm button
    [lookup] = slack.calls("usergroups.users.list")
    assert lookup.data["usergroup"] == "S0ONCALL"
