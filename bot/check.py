"""`stop-livestream-bot check`: verify the real configuration in one pass.

Every check only reads; nothing changes state. Every failure says what to fix.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TextIO
from urllib.parse import urlsplit

import aiohttp
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, Mode, Settings, load_settings
from bot.logs import RedactingFilter
from bot.messages import describe_failure
from bot.realtimekit import Answer, RealtimeKitClient, StopFailure, error_message, json_object
from bot.state import describe
from bot.usergroups import slack_error_code

_SLACK_TOKEN_FIXES = {
    "invalid_auth": "the token is not valid: copy it again",
    "not_authed": "no token was sent: set it",
    "account_inactive": "the app's workspace or bot user is deactivated: reinstall the app",
    "token_revoked": "the token was revoked: reinstall the app to get a new one",
    "token_expired": "the token expired: turn off token rotation or refresh it, then reinstall",
    "not_allowed_token_type": "this is the wrong kind of token",
    "missing_scope": "the token lacks a scope this call needs",
}
# channels:read and groups:read: the shortcut checks it can post in the chosen channel.
NEEDED_SCOPES = ("commands", "chat:write", "chat:write.public", "channels:read", "groups:read")
STATE_PING_SECONDS = 2.0


@dataclass(frozen=True)
class Result:
    """One line of the checklist."""

    ok: bool
    what: str
    fix: str = ""


async def run_checks(env: Mapping[str, str], mode: Mode) -> list[Result]:
    """Every check, in order; later ones are skipped when the configuration is invalid."""
    try:
        settings = load_settings(env, mode)
    except ConfigError as error:
        return [Result(False, "configuration is valid", "\n".join(error.problems))]
    groups = len(settings.allowed_usergroup_ids)
    results = [
        Result(
            True,
            f"configuration is valid ({'Socket Mode' if mode == 'socket' else 'HTTP mode'}, "
            f"{len(settings.allowed_user_ids)} allowed users, {groups} user groups)",
        )
    ]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        client = AsyncWebClient(base_url=settings.slack_api_url, session=session, timeout=15)
        results.append(await _slack_bot_token(client, settings))
        if mode == "socket":
            results.append(await _slack_app_token(client, settings))
    realtimekit = RealtimeKitClient.from_settings(settings, max_attempts=2)
    try:
        results.append(await _cloudflare_token(realtimekit))
        results.append(await _realtimekit_app(realtimekit, settings))
    finally:
        await realtimekit.aclose()
    if settings.state_url is not None:
        results.append(await _state_store(settings.state_url.get()))
    return results


async def _slack_bot_token(client: AsyncWebClient, settings: Settings) -> Result:
    what = "Slack bot token works (auth.test)"
    try:
        response = await client.auth_test(token=settings.slack_bot_token.get())
    except SlackApiError as error:
        return Result(False, what, "SLACK_BOT_TOKEN: " + _slack_fix(error, "bot"))
    except (aiohttp.ClientError, TimeoutError):
        return Result(False, what, "could not reach Slack: check the network and SLACK_API_URL")
    team, bot = response.get("team"), response.get("user")
    scopes_header = response.headers.get("x-oauth-scopes") or response.headers.get("X-OAuth-Scopes")
    needed = list(NEEDED_SCOPES) + (["usergroups:read"] if settings.allowed_usergroup_ids else [])
    if isinstance(scopes_header, str):
        granted = {s.strip() for s in scopes_header.split(",")}
        missing = [s for s in needed if s not in granted]
        if missing:
            return Result(
                False,
                f'{what}: workspace "{team}", bot "{bot}"',
                f"the bot token lacks the scopes {', '.join(missing)}: add them under OAuth & "
                "Permissions (or recreate the app from manifest.yml) and reinstall the app",
            )
    return Result(True, f'{what}: workspace "{team}", bot "{bot}"')


async def _slack_app_token(client: AsyncWebClient, settings: Settings) -> Result:
    what = "Slack app token can open a Socket Mode connection (apps.connections.open)"
    assert settings.slack_app_token is not None
    try:
        await client.apps_connections_open(app_token=settings.slack_app_token.get())
    except SlackApiError as error:
        return Result(False, what, "SLACK_APP_TOKEN: " + _slack_fix(error, "app"))
    except (aiohttp.ClientError, TimeoutError):
        return Result(False, what, "could not reach Slack: check the network and SLACK_API_URL")
    return Result(True, what)


def _slack_fix(error: SlackApiError, kind: str) -> str:
    code = slack_error_code(error)
    fix = _SLACK_TOKEN_FIXES.get(code, "Slack refused it")
    if kind == "bot":
        where = "use the Bot User OAuth Token (xoxb-...) from OAuth & Permissions"
    else:
        where = (
            "use an app-level token (xapp-...) with the connections:write scope, from "
            "Basic Information > App-Level Tokens, and turn Socket Mode on"
        )
    return f"Slack said {code}; {fix}; {where}"


async def _cloudflare_token(client: RealtimeKitClient) -> Result:
    what = "Cloudflare API token is active"
    fix = ""
    owners: tuple[Literal["account", "user"], ...] = ("account", "user")
    for owner in owners:
        answer = await client.verify_token(owner)
        if not isinstance(answer, Answer):
            return _unreachable(what, answer)
        document = json_object(answer.body)
        result = document.get("result") if document else None
        status = result.get("status") if isinstance(result, dict) else None
        if answer.status == 200 and document and document.get("success") is True:
            if status == "active":
                return Result(True, f"{what} ({owner}-owned token)")
            return Result(
                False,
                what,
                f"CLOUDFLARE_API_TOKEN is {status or 'not active'}: create a new token "
                "with the Realtime (or Realtime Admin) permission",
            )
        fix = _cloudflare_message(document) or f"HTTP {answer.status}"
    return Result(
        False,
        what,
        f"CLOUDFLARE_API_TOKEN was rejected (Cloudflare: {fix}): create an API token with "
        "the Realtime (or Realtime Admin) permission and set it",
    )


async def _realtimekit_app(client: RealtimeKitClient, settings: Settings) -> Result:
    what = f"RealtimeKit app {settings.realtimekit_app_id} answers a read (list one meeting)"
    answer = await client.list_one_meeting()
    if not isinstance(answer, Answer):
        return _unreachable(what, answer)
    document = json_object(answer.body)
    if 200 <= answer.status < 300 and document and document.get("success") is True:
        return Result(True, what)
    said = _cloudflare_message(document)
    said = f" (Cloudflare: {said})" if said else ""
    if answer.status in (401, 403):
        fix = (
            f"the token may not use RealtimeKit{said}: give CLOUDFLARE_API_TOKEN the Realtime "
            "(or Realtime Admin) permission for this account"
        )
    elif answer.status == 404:
        fix = (
            f"no such app{said}: check REALTIMEKIT_APP_ID (Realtime > RealtimeKit in the "
            "dashboard) and CLOUDFLARE_ACCOUNT_ID"
        )
    else:
        fix = (
            f"unexpected answer (HTTP {answer.status}){said}: try again; check Cloudflare's status"
        )
    return Result(False, what, fix)


async def _state_store(url: str) -> Result:
    """PING the shared state store. Names STATE_URL and where it points (describe()),
    never its password, and no client error text, which could quote the URL."""
    where = describe(url)
    what = f"STATE_URL: the state store at {where} answers PING"
    client = Redis.from_url(
        url,
        socket_timeout=STATE_PING_SECONDS,
        socket_connect_timeout=STATE_PING_SECONDS,
        retry=Retry(NoBackoff(), 0),  # one try: the answer is the point
    )
    try:
        async with asyncio.timeout(STATE_PING_SECONDS):
            await client.ping()
    except AuthenticationError:
        if not urlsplit(url).password:
            return Result(False, what, "the store wants a password: put it in STATE_URL")
        return Result(
            False, what, "the store refused the password: check the password in STATE_URL"
        )
    except ResponseError as error:
        return Result(False, what, f"the store answered with an error ({type(error).__name__})")
    except (RedisError, OSError, TimeoutError) as error:
        return Result(
            False,
            what,
            f"no answer ({type(error).__name__}, within {STATE_PING_SECONDS:g} s): check that "
            "Valkey/Redis runs there and that this host can reach it (or unset STATE_URL to "
            "keep state in memory)",
        )
    finally:
        await client.aclose()
    return Result(True, what)


def _unreachable(what: str, failure: StopFailure) -> Result:
    fix = f"{describe_failure(failure)}: check the network and CLOUDFLARE_API_BASE_URL"
    return Result(False, what, fix)


def _cloudflare_message(document: dict[str, object] | None) -> str:
    found = error_message(document) if document else None
    return found[1][:300] if found else ""


def report(results: list[Result], secrets: list[str], out: TextIO = sys.stdout) -> int:
    """Print the checklist (scrubbed of secrets); return the exit code."""
    scrub = RedactingFilter(secrets).scrub
    print("stop-livestream-bot check", file=out)
    for result in results:
        print(f"  {'PASS' if result.ok else 'FAIL'}  {scrub(result.what)}", file=out)
        for fix in result.fix.splitlines():  # one problem a line
            print(f"        fix: {scrub(fix)}", file=out)
    failed = sum(not r.ok for r in results)
    print(
        f"{failed} of {len(results)} checks failed." if failed else "All checks passed.",
        file=out,
    )
    return 1 if failed else 0
