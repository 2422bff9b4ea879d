"""`stop-livestream-bot check` with STATE_URL set: the store is PINGed, against a real
Valkey server (answering, wanting a password) and a closed port."""

from __future__ import annotations

from pathlib import Path

from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from tests.conftest import free_port
from tests.fakes.valkey import ValkeyServer, valkey
from tests.test_check import ACTIVE, MEETINGS, check

__all__ = ["valkey"]  # the fixture, imported so pytest finds it

PASSWORD = "hunter2-store-password"


async def test_check_pings_the_state_store(
    env: dict[str, str], tmp_path: Path, cloudflare: FakeCloudflare, valkey: ValkeyServer
) -> None:
    cloudflare.then(ACTIVE, MEETINGS)
    code, out = await check({**env, "STATE_URL": valkey.url}, tmp_path)
    assert code == 0, out
    assert (
        f"PASS  STATE_URL: the state store at redis://127.0.0.1:{valkey.port} answers PING" in out
    )
    assert out.count("PASS") == 6


async def test_check_fails_when_nothing_answers_at_state_url(
    env: dict[str, str], tmp_path: Path, cloudflare: FakeCloudflare
) -> None:
    cloudflare.then(ACTIVE, MEETINGS)
    port = free_port()
    code, out = await check({**env, "STATE_URL": f"redis://127.0.0.1:{port}/0"}, tmp_path)
    assert code == 1
    assert f"FAIL  STATE_URL: the state store at redis://127.0.0.1:{port} answers PING" in out
    assert "check that Valkey/Redis runs there" in out
    assert "1 of 6 checks failed." in out


async def test_check_names_a_wrong_or_missing_password_without_printing_it(
    env: dict[str, str], tmp_path: Path, cloudflare: FakeCloudflare
) -> None:
    server = ValkeyServer(tmp_path, password=PASSWORD)
    await server.start()
    try:
        cloudflare.then(ACTIVE, MEETINGS, ACTIVE, MEETINGS, ACTIVE, MEETINGS)
        right = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
        code, out = await check({**env, "STATE_URL": right}, tmp_path)
        assert code == 0, out
        wrong = f"redis://:wrong-{PASSWORD}@127.0.0.1:{server.port}/0"
        code, out = await check({**env, "STATE_URL": wrong}, tmp_path)
        assert code == 1
        assert "the store refused the password: check the password in STATE_URL" in out
        code, out = await check({**env, "STATE_URL": server.url}, tmp_path)
        assert code == 1
        assert "the store wants a password: put it in STATE_URL" in out
    finally:
        await server.kill()
