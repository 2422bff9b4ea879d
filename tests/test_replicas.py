"""Two copies of the bot as real processes (`python -m bot http`), sharing one real
Valkey server through STATE_URL, pointed at the same fake Slack and fake Cloudflare:
what the copies share, and what happens when one of them or the store dies."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.codec import encode_result
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.demo.standins import cf_success
from bot.realtimekit.results import Stopped
from bot.state import scripts
from tests.conftest import (
    ACCOUNT,
    ALLOWED,
    APP_ID,
    MEETING,
    OTHER_ALLOWED,
    RunningBot,
    channel_post,
    free_port,
    in_channel,
    process_env,
)
from tests.fakes import payloads
from tests.fakes.valkey import ValkeyServer, valkey

__all__ = ["valkey"]  # the fixture, imported so pytest finds it

STARTS_WITHIN = 30.0
STOPPED = "Stopped live stream successfully"
STALL = 5.0  # the longest store stall through which copies keep one API call per meeting
KEYS = f"stop-livestream-bot:{ACCOUNT}:{APP_ID}:"  # the copies' namespace in the store


@dataclasses.dataclass
class Copy:
    """One bot process: a signed-request client for it, its stderr as it comes, and its
    own audit file."""

    name: str
    proc: asyncio.subprocess.Process
    client: RunningBot
    audit_path: Path
    lines: list[str] = dataclasses.field(default_factory=list)
    changed: asyncio.Condition = dataclasses.field(default_factory=asyncio.Condition)
    reader: asyncio.Task[None] | None = None

    async def read_stderr(self) -> None:
        """Collect stderr lines (so the pipe never fills) and wake whoever waits on them."""
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            async with self.changed:
                self.lines.append(line.decode())
                self.changed.notify_all()
        async with self.changed:
            self.changed.notify_all()

    def logged(self, text: str) -> int:
        """How many stderr lines contain `text`."""
        return sum(text in line for line in self.lines)

    async def wait_logged(self, text: str, count: int = 1, within: float = 5.0) -> None:
        """Wait until `count` stderr lines contain `text`."""
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(
                    lambda: self.logged(text) >= count or self.proc.returncode is not None
                ),
                within,
            )
        assert self.logged(text) >= count, f"{self.name} exited:\n{''.join(self.lines)}"

    def audit(self) -> list[dict[str, Any]]:
        """This copy's audit lines, from its AUDIT_LOG_FILE."""
        if not self.audit_path.exists():
            return []
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]

    async def wait_audit(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        """Wait for `count` audit lines (each is also logged on stderr, after the file)."""
        await self.wait_logged('"event":"stop"', count, within)
        return self.audit()

    async def health(self) -> tuple[int, dict[str, Any]]:
        """GET /healthz: status and document."""
        async with self.client.session.get(self.client.url + "/healthz") as response:
            return response.status, await response.json()


StartCopies = Callable[..., Awaitable[list[Copy]]]


@pytest.fixture
async def start_copies(
    env: dict[str, str], slack: FakeSlack, tmp_path: Path
) -> AsyncIterator[StartCopies]:
    """Start copies of the bot at once, sharing `state_url`; `overrides` replace env
    variables in every copy."""
    copies: list[Copy] = []
    session = aiohttp.ClientSession()

    async def one(name: str, state_url: str, overrides: dict[str, str]) -> Copy:
        port = free_port()
        audit_path = tmp_path / f"{name}.audit"
        full = process_env(
            {**env, "STATE_URL": state_url, "AUDIT_LOG_FILE": str(audit_path), **overrides}
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "http", "--host", "127.0.0.1", "--port", str(port),
            env=full, cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        copy = Copy(name, proc, RunningBot(f"http://127.0.0.1:{port}", slack, session), audit_path)
        copy.reader = asyncio.create_task(copy.read_stderr())
        copies.append(copy)
        await copy.wait_logged("listening on", within=STARTS_WITHIN)
        return copy

    async def start(state_url: str, count: int = 2, **overrides: str) -> list[Copy]:
        names = [f"copy{len(copies) + i}" for i in range(count)]
        return list(await asyncio.gather(*(one(n, state_url, overrides) for n in names)))

    yield start
    for copy in copies:
        if copy.proc.returncode is None:
            copy.proc.kill()
        await copy.proc.wait()
        if copy.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(copy.reader, 5)
    await session.close()
    for copy in copies:
        assert "Traceback" not in "".join(copy.lines), "".join(copy.lines)


async def test_a_workflow_step_delivered_to_both_copies_is_acted_on_once(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    a, b = await start_copies(valkey.url)
    inputs = {
        "meeting_id": MEETING,
        "user_context": payloads.user_context(ALLOWED),
        "channel_id": "C0WF",
    }
    answers = await asyncio.gather(
        a.client.step(inputs, execution_id="Fx1", event_id="Ev1"),
        b.client.step(inputs, execution_id="Fx1", event_id="Ev1"),
    )
    assert [status for status, _ in answers] == [200, 200]
    await slack.wait_calls("functions.completeSuccess")
    ignored = "ignored a redelivery"
    waits = [asyncio.ensure_future(c.wait_logged(ignored)) for c in (a, b)]
    _, pending = await asyncio.wait(waits, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    for waiting in pending:
        waiting.cancel()
    assert a.logged(ignored) + b.logged(ignored) == 1
    assert len(cloudflare.stop_calls) == 1
    assert len(slack.calls("chat.postMessage")) == 1
    assert len(slack.calls("functions.completeSuccess")) == 1
    assert slack.calls("functions.completeError") == []
    [line] = a.audit() + b.audit()
    assert line["outcome"] == "stopped" and line["state"] == "shared"


async def copies_waiting(valkey: ValkeyServer, meeting_id: str, count: int = 1) -> None:
    """Wait until `count` copies wait on another's call for `meeting_id` (subscribed to
    its channel). Polled: the store raises no event a test can wait on."""
    raw = Redis.from_url(valkey.url, decode_responses=True)
    try:
        async with asyncio.timeout(5):
            while True:
                if (await raw.pubsub_numsub(f"{KEYS}done:stop:{meeting_id}"))[0][1] >= count:
                    return
                await asyncio.sleep(0.01)
    finally:
        await raw.aclose()


async def test_stop_pressed_on_both_copies_makes_one_api_call_and_both_people_hear(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    a, b = await start_copies(valkey.url)
    answer = asyncio.Event()  # a's call lasts until b waits for it
    cloudflare.default = cloudflare.gated(answer, cf_success())
    await a.client.command(MEETING, ALLOWED, response="a")
    await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
    await b.client.command(MEETING, OTHER_ALLOWED, response="b")  # while a's call runs
    await copies_waiting(valkey, MEETING)
    answer.set()
    for name in ("a", "b"):
        post = await channel_post(slack, name)
        assert STOPPED in post["text"]
    assert len(cloudflare.stop_calls) == 1
    [first] = await a.wait_audit(1)
    [second] = await b.wait_audit(1)
    assert (first["shared"], second["shared"]) == (False, True)
    assert first["state"] == second["state"] == "shared"
    assert first["outcome"] == second["outcome"] == "stopped"


async def test_a_store_stall_while_a_copy_holds_the_meeting_does_not_make_a_second_api_call(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    a, b = await start_copies(valkey.url, CLOUDFLARE_TIMEOUT_SECONDS=str(STALL + 5))
    answer = asyncio.Event()
    cloudflare.default = cloudflare.gated(answer, cf_success())
    await a.client.command(MEETING, ALLOWED, response="a")
    await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
    await b.client.command(MEETING, OTHER_ALLOWED, response="b")
    await copies_waiting(valkey, MEETING)
    loop = asyncio.get_running_loop()
    stalled_until = loop.time() + STALL
    valkey.freeze()
    try:
        await b.wait_logged("unavailable")  # b's wait hit the store's timeout
        with pytest.raises(TimeoutError):  # and b still leaves the meeting to a
            await cloudflare.recorder.wait_for(
                lambda _: len(cloudflare.stop_calls) > 1, stalled_until - loop.time()
            )
    finally:
        valkey.thaw()
    answer.set()
    for name in ("a", "b"):
        assert STOPPED in (await channel_post(slack, name))["text"]
    assert len(cloudflare.stop_calls) == 1
    [first] = await a.wait_audit(1)
    [second] = await b.wait_audit(1)
    assert (first["shared"], second["shared"]) == (False, True)
    assert first["outcome"] == second["outcome"] == "stopped"


async def test_a_call_that_outlasts_the_lock_keeps_it_and_the_other_copy_waits(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    lock = 1.0  # a's call (queued, or slow) lasts three times longer: a renews its hold
    a, b = await start_copies(
        valkey.url, STOP_LOCK_SECONDS=str(lock), CLOUDFLARE_TIMEOUT_SECONDS="10"
    )
    answer = asyncio.Event()
    cloudflare.default = cloudflare.gated(answer, cf_success())
    await a.client.command(MEETING, ALLOWED, response="a")
    await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
    await b.client.command(MEETING, OTHER_ALLOWED, response="b")
    with pytest.raises(TimeoutError):  # b leaves the meeting to a, which is alive
        await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) > 1, 3 * lock)
    answer.set()
    for name in ("a", "b"):
        assert STOPPED in (await channel_post(slack, name))["text"]
    assert len(cloudflare.stop_calls) == 1


async def test_a_result_written_by_a_newer_copy_reaches_the_waiting_person(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    [old] = await start_copies(valkey.url, count=1)
    newer = Redis.from_url(valkey.url, decode_responses=True)  # a newer copy, mid-deploy
    lock, fence = f"{KEYS}lock:stop:{MEETING}", f"{KEYS}fence"
    try:
        held, token = await newer.eval(scripts.ACQUIRE, 2, lock, fence, 30_000)
        assert held == 1
        await old.client.command(MEETING, ALLOWED, response="old")
        await copies_waiting(valkey, MEETING)
        result = json.loads(encode_result(Stopped(STOPPED)))
        payload = json.dumps({**result, "request_id": "r-1", "region": "eu"})  # new fields
        result_key, channel = f"{KEYS}result:stop:{MEETING}:{token}", f"{KEYS}done:stop:{MEETING}"
        assert await newer.eval(
            scripts.FINISH, 2, lock, result_key, token, payload, 60_000, channel
        )
    finally:
        await newer.aclose()
    assert STOPPED in (await channel_post(slack, "old"))["text"]
    assert cloudflare.stop_calls == []
    [line] = await old.wait_audit(1)
    assert (line["outcome"], line["shared"]) == ("stopped", True)


async def test_the_rate_limit_counts_requests_on_every_copy(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    copies = await start_copies(valkey.url, RATE_LIMIT_PER_USER_PER_MINUTE="3")
    for n in range(4):
        await copies[n % 2].client.command(str(uuid.uuid4()), ALLOWED, response=f"r{n}")
        await slack.wait_responses(1 if n == 3 else 2, f"r{n}")
    assert len(cloudflare.stop_calls) == 3
    [refused] = slack.responses("r3")
    assert "limit of stops per minute" in refused["text"]
    assert refused["response_type"] == "ephemeral"
    lines = copies[1].audit()
    assert [(x["decision"], x.get("reason")) for x in lines] == [
        ("allowed", None),
        ("denied", "rate_limited"),
    ]


async def test_when_the_copy_holding_a_meeting_dies_the_other_stops_it_once_the_lock_expires(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    lock = 1.5
    a, b = await start_copies(valkey.url, STOP_LOCK_SECONDS=str(lock))
    cloudflare.then(cloudflare.hang())  # a's call never returns; the next one succeeds
    await a.client.command(MEETING, ALLOWED, response="a")
    await cloudflare.recorder.wait_for(lambda _: len(cloudflare.stop_calls) == 1)
    held_since = asyncio.get_running_loop().time()
    await b.client.command(MEETING, OTHER_ALLOWED, response="b")  # waits for a's call
    a.proc.kill()  # SIGKILL: a neither finishes its call nor releases its lock
    await a.proc.wait()
    post = await channel_post(slack, "b", within=lock + 5)
    waited = asyncio.get_running_loop().time() - held_since
    assert STOPPED in post["text"]
    assert len(cloudflare.stop_calls) == 2
    assert waited >= lock - 0.5, "b called the API while a still held the meeting"
    [line] = await b.wait_audit(1)
    assert line["shared"] is False and line["state"] == "shared"
    assert in_channel(slack, "a") == []


async def test_stops_go_on_while_the_store_is_down_and_share_again_once_it_is_back(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    a, b = await start_copies(valkey.url)
    assert await a.health() == (200, {"ok": True, "state": "shared", "slack": "ok"})

    await valkey.kill()
    for n, copy in enumerate((a, b)):
        await copy.client.command(str(uuid.uuid4()), ALLOWED, response=f"down{n}")
        assert STOPPED in (await channel_post(slack, f"down{n}"))["text"]
        [line] = await copy.wait_audit(1)
        assert line["outcome"] == "stopped" and line["state"] == "local"
        status, health = await copy.health()
        assert (status, health["ok"], health["state"]) == (200, True, "unavailable")
    assert a.logged("state store redis://127.0.0.1") == 1  # one warning, no password

    await valkey.start()  # an empty store on the same port
    await a.wait_logged("answers again: sharing state", within=5)
    assert (await a.health())[1]["state"] == "shared"
    await a.client.command(str(uuid.uuid4()), ALLOWED, response="back")
    assert STOPPED in (await channel_post(slack, "back"))["text"]
    line = (await a.wait_audit(2))[-1]
    assert line["outcome"] == "stopped" and line["state"] == "shared"


async def test_healthz_stays_200_when_the_store_is_down_from_the_start(
    start_copies: StartCopies, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    [copy] = await start_copies(f"redis://127.0.0.1:{free_port()}/0", count=1)
    status, health = await copy.health()
    assert (status, health["ok"], health["state"]) == (200, True, "unavailable")
    await copy.client.command(MEETING, ALLOWED, response="cmd")
    assert STOPPED in (await channel_post(slack, "cmd"))["text"]
    [line] = await copy.wait_audit(1)
    assert line["state"] == "local"


async def test_a_button_pressed_on_one_copy_and_again_on_the_other_calls_once(
    start_copies: StartCopies, valkey: ValkeyServer, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    a, b = await start_copies(valkey.url)
    value = payloads.button_value(MEETING)
    await a.client.click(value, ALLOWED, response="a")
    assert STOPPED in (await channel_post(slack, "a"))["text"]
    await b.client.click(value, OTHER_ALLOWED, response="b")
    [again] = await slack.wait_responses(1, "b")
    assert again["response_type"] == "ephemeral"
    assert "already stopped" in again["text"] and f"<@{ALLOWED}>" in again["text"]
    assert len(cloudflare.stop_calls) == 1
    [line] = await b.wait_audit(1)
    assert line["decision"] == "already_pressed" and line["state"] == "shared"
