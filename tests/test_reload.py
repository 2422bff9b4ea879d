"""SIGHUP re-reads .env and applies the allowlists without a restart."""

from __future__ import annotations

import signal
from pathlib import Path

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from tests.conftest import MEETING, SECRETS, STRANGER, Spawn
from tests.fakes import payloads
from tests.test_secrets import send


async def test_sighup_reloads_the_allowlist_from_dotenv(
    spawn: Spawn, slack: FakeSlack, cloudflare: FakeCloudflare, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ALLOWED_USER_IDS=U0ALLOWED\n")
    bot = await spawn({"ALLOWED_USER_IDS": None})
    form = "application/x-www-form-urlencoded"

    def command(name: str) -> str:
        return payloads.form_body(
            payloads.slash_command(MEETING, STRANGER, slack.response_url(name))
        )

    await send(bot.url, command("before"), form)
    [denied] = await slack.wait_responses(1, "before")
    assert "not allowed" in denied["text"]

    env_file.write_text("ALLOWED_USER_IDS=U0ALLOWED,U0STRANGER\n")
    bot.proc.send_signal(signal.SIGHUP)
    await bot.until("SIGHUP: reloaded the allowlists (2 users")
    await send(bot.url, command("after"), form)
    replies = await slack.wait_responses(2, "after")
    assert replies[-1]["response_type"] == "in_channel"
    assert len(cloudflare.stop_calls) == 1

    env_file.write_text("ALLOWED_USER_IDS=not-an-id\n")
    bot.proc.send_signal(signal.SIGHUP)
    line = await bot.until("SIGHUP: kept the running allowlist")
    assert "not-an-id" not in line
    code, log = await bot.finish()
    assert code == 0
    assert all(secret not in log for secret in SECRETS)
