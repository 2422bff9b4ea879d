"""`stop-livestream-bot check` against the fakes: every pass and fail path."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from dotenv import dotenv_values

from bot.check import report
from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_dyte_error, cf_json, cf_raw, cf_v4_error
from tests.conftest import (
    ACCOUNT,
    APP_ID,
    ROOT,
    SECRETS,
    free_port,
    process_env,
    run_python,
    slack_error,
)

ACTIVE = cf_json(
    200, {"success": True, "result": {"id": "t1", "status": "active"}, "errors": [], "messages": []}
)
MEETINGS = cf_json(200, {"success": True, "data": [], "paging": {"total_count": 0}})
BAD_TOKEN = cf_v4_error(401, 1000, "Invalid API Token")


async def check(env: dict[str, str], cwd: Path, *, process: bool = False) -> tuple[int, str]:
    """`python -m bot check` with only `env`, in `cwd`: its exit code and all it printed
    (no secret in it). Unless `process`, through the same entry point (bot.cli.main) in
    this process, as a process start costs more than the check; warnings count as
    printed, as in a process with no logging set up."""
    if process:
        code, out, err = await run_python("-m", "bot", "check", env=env, cwd=cwd)
        text = out + err
    else:
        buffer = io.StringIO()
        # report() binds sys.stdout when imported: point that default at the buffer.
        defaults = tuple(buffer if hasattr(d, "write") else d for d in report.__defaults__ or ())
        warnings = logging.StreamHandler(buffer)
        warnings.setLevel(logging.WARNING)
        logging.getLogger().addHandler(warnings)
        try:
            with (
                mock.patch.dict(os.environ, process_env(env), clear=True),
                mock.patch.object(report, "__defaults__", defaults),
                contextlib.chdir(cwd), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer),
            ):  # fmt: skip
                code = await asyncio.wait_for(asyncio.to_thread(main, ["check"]), 60)
        finally:
            logging.getLogger().removeHandler(warnings)
        text = buffer.getvalue()
    for secret in SECRETS:
        assert secret not in text
    return code, text


async def test_everything_passes(
    env: dict[str, str], tmp_path: Path, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    cloudflare.then(ACTIVE, MEETINGS)
    code, out = await check(env, tmp_path, process=True)  # the real process, once
    assert code == 0, out
    assert out.count("PASS") == 5 and "FAIL" not in out
    assert 'workspace "Acme", bot "stopbot"' in out
    assert "Socket Mode" in out and "(account-owned token)" in out
    paths = [(r.method, r.path, r.data.get("per_page")) for r in cloudflare.recorder.received]
    assert paths == [
        ("GET", f"/client/v4/accounts/{ACCOUNT}/tokens/verify", None),
        ("GET", f"/client/v4/accounts/{ACCOUNT}/realtime/kit/{APP_ID}/meetings", "1"),
    ]
    assert [r.method for r in cloudflare.recorder.received] == [
        "GET",
        "GET",
    ]  # nothing changes state
    [opened] = slack.calls("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {env['SLACK_APP_TOKEN']}"


async def test_user_token_falls_back_to_the_user_verify_endpoint(
    env: dict[str, str], tmp_path: Path, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(BAD_TOKEN, ACTIVE, MEETINGS)
    code, out = await check(env, tmp_path)
    assert code == 0, out
    assert "(user-owned token)" in out
    assert cloudflare.recorder.received[1].path == "/client/v4/user/tokens/verify"


@pytest.mark.parametrize(
    ("answers", "fix"),
    [
        (
            [BAD_TOKEN, BAD_TOKEN, MEETINGS],
            "CLOUDFLARE_API_TOKEN was rejected (Cloudflare: Invalid API Token)",
        ),
        (
            [cf_json(200, {"success": True, "result": {"status": "expired"}}), MEETINGS],
            "CLOUDFLARE_API_TOKEN is expired",
        ),
        (
            [ACTIVE, cf_v4_error(403, 10000, "Authentication error")],
            "give CLOUDFLARE_API_TOKEN the Realtime",
        ),
        ([ACTIVE, cf_dyte_error(404, "App not found")], "check REALTIMEKIT_APP_ID"),
        ([ACTIVE, cf_raw(500, b"<html>oops</html>")], "unexpected answer (HTTP 500)"),
    ],
)
async def test_cloudflare_failures_say_what_to_fix(
    env: dict[str, str], tmp_path: Path, cloudflare: FakeCloudflare, answers: list[Any], fix: str
) -> None:
    cloudflare.then(*answers)
    code, out = await check(env, tmp_path)
    assert code == 1
    assert fix in out
    assert "1 of 5 checks failed." in out
    assert "<html>" not in out


@pytest.mark.parametrize(
    ("method", "code", "fix"),
    [
        ("auth.test", "invalid_auth", "SLACK_BOT_TOKEN: Slack said invalid_auth"),
        ("auth.test", "token_revoked", "reinstall the app"),
        (
            "apps.connections.open",
            "not_allowed_token_type",
            "SLACK_APP_TOKEN: Slack said not_allowed_token_type",
        ),
    ],
)
async def test_slack_failures_say_what_to_fix(
    env: dict[str, str],
    tmp_path: Path,
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    method: str,
    code: str,
    fix: str,
) -> None:
    cloudflare.then(ACTIVE, MEETINGS)
    slack.answer_api(method, slack_error(code))
    exit_code, out = await check(env, tmp_path)
    assert exit_code == 1
    assert fix in out


async def test_missing_scopes_are_named(
    env: dict[str, str], tmp_path: Path, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    async def scoped(_: web.Request) -> web.StreamResponse:
        body = {
            "ok": True,
            "team": "Acme",
            "user": "stopbot",
            "team_id": "T0TEAM",
            "user_id": "U0BOT",
        }
        return web.json_response(body, headers={"x-oauth-scopes": "commands,chat:write"})

    slack.answer_api("auth.test", scoped)
    cloudflare.then(ACTIVE, MEETINGS)
    code, out = await check(env, tmp_path)
    assert code == 1
    assert "lacks the scopes chat:write.public, channels:read, groups:read" in out


async def test_unreachable_services_are_reported(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    dead = {
        **env,
        "SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
        "CLOUDFLARE_API_BASE_URL": f"http://127.0.0.1:{port}/client/v4",
    }
    code, out = await check(dead, tmp_path)
    assert code == 1
    assert "could not reach Slack" in out
    assert "could not reach the Cloudflare API (connection refused)" in out


async def test_invalid_configuration_is_a_failed_check(tmp_path: Path) -> None:
    code, out = await check({"SLACK_BOT_TOKEN": "xoxp-hunter2"}, tmp_path)
    assert code == 1
    assert "FAIL  configuration is valid" in out and "CLOUDFLARE_API_TOKEN is not set" in out
    assert "hunter2" not in out


async def test_a_fresh_copy_of_the_example_env_lists_one_problem_a_line_with_its_hints(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    with pytest.raises(ConfigError) as plain:
        load_settings({k: v or "" for k, v in dotenv_values(tmp_path / ".env").items()}, "http")
    code, out = await check({}, tmp_path)
    assert code == 1
    fixes = [line.strip() for line in out.splitlines() if line.strip().startswith("fix:")]
    assert fixes == [f"fix: {problem}" for problem in plain.value.problems], out
    assert all(";" not in line and len(line) < 200 for line in fixes), out
    assert "put an app-level token (xapp-...) there" in out
    assert "[redacted]" not in out
