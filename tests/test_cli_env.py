"""The env file: a mistyped --env-file, or a .env that is not UTF-8, is a configuration
problem (exit 2, one line naming the file), at start and on SIGHUP."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bot.cli import EXIT_CONFIG, main
from tests.conftest import SECRETS, Spawn


def test_a_mistyped_env_file_exits_2_saying_it_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / ".evn"
    assert main(["--env-file", str(typo), "http"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"the env file {typo} does not exist" in err
    assert "SLACK_BOT_TOKEN" not in err  # it stops there, before reading any variable


def test_the_default_env_file_may_be_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert main(["http"]) == EXIT_CONFIG  # for the missing variables, not for the file
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err and "env file" not in err


def test_a_non_utf8_env_file_exits_2_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "bot.env"
    env_file.write_bytes(b"ALLOWED_USER_IDS=U0ALLOWED # \xe9quipe\n")
    assert main(["--env-file", str(env_file), "http"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "stop-livestream-bot: the configuration has problems:",
        f"  - {env_file} is not UTF-8 text",
    ]


def test_check_reports_a_non_utf8_env_file_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"\xff\xfeA=1\n")
    assert main(["check"]) == EXIT_CONFIG
    assert ".env is not UTF-8 text" in capsys.readouterr().err


async def test_sighup_with_a_non_utf8_env_file_keeps_the_running_allowlist(
    spawn: Spawn, tmp_path: Path
) -> None:
    bot = await spawn()
    (tmp_path / ".env").write_bytes(b"ALLOWED_USER_IDS=U0ALLOWED # \xe9quipe\n")
    bot.proc.send_signal(signal.SIGHUP)
    line = await bot.until("SIGHUP: kept the running allowlist", timeout=10)
    assert ".env is not UTF-8 text" in line
    code, log = await bot.finish()
    assert code == 0
    assert "Traceback" not in log
    assert all(secret not in log for secret in SECRETS)
