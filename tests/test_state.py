"""Shared state: the in-memory default, and Valkey/Redis shared by several copies of the
bot (two State instances here, as two processes would have), against a real Valkey
server that the tests kill, freeze and restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.state import MemoryState, State, StoreState, open_state
from bot.state import memory as memory_module
from tests.fakes.valkey import ValkeyServer, free_port, valkey

__all__ = ["valkey"]  # the fixture, imported so pytest finds it

PREFIX = "test:"
PASSWORD = "hunter2-state-password"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    """Poll `check` until it holds; fail after `within` seconds. (What it checks lives
    in the store or in a background probe: there is no event to wait on.)"""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.01)


def same(value: str) -> str:
    return value


async def store(server: ValkeyServer) -> StoreState:
    """One copy's state on `server`, with short timeouts so failures show quickly."""
    state = await open_state(server.url, prefix=PREFIX, call_timeout=0.3, probe_every=0.05)
    assert isinstance(state, StoreState)
    return state


@pytest.fixture
async def pair(valkey: ValkeyServer) -> AsyncIterator[tuple[StoreState, StoreState]]:
    """Two copies of the bot sharing one store."""
    first, second = await store(valkey), await store(valkey)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.fixture
async def raw(valkey: ValkeyServer) -> AsyncIterator[Redis]:
    """A plain client, to look at the store as an operator would."""
    client = Redis.from_url(valkey.url, decode_responses=True)
    yield client
    await client.aclose()


class Work:
    """A call that blocks until released, recording that it ran."""

    def __init__(self, value: str, fail: bool = False) -> None:
        self.value = value
        self.fail = fail
        self.calls = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        self.started.set()
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the work failed")
        return self.value


def run(state: State, key: str, work: Work, lock_ttl: float = 5.0) -> asyncio.Task[object]:
    return asyncio.create_task(state.run_once(key, work, same, same, lock_ttl=lock_ttl))


async def subscribers(raw: Redis, key: str) -> int:
    """Copies waiting on `key`'s outcome (subscribed to its channel)."""
    counts = await raw.pubsub_numsub(f"{PREFIX}done:{key}")
    return int(counts[0][1])


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("bot.state") and r.levelno >= logging.WARNING
    ]


# ---------------------------------------------------------------------------- in memory


async def test_no_url_means_memory_reported_as_local() -> None:
    state = await open_state(None)
    assert isinstance(state, MemoryState)
    assert state.status == "local"
    assert await state.first_time("Ev1") == (True, "local")
    await state.aclose()


async def test_memory_acts_on_a_delivery_once_within_the_window() -> None:
    clock = Clock()
    state = MemoryState(dedup_ttl=3600, clock=clock)
    assert (await state.first_time("Ev1")).value is True
    assert (await state.first_time("Ev1")).value is False
    assert (await state.first_time("Ev2", "Fx1")).value is True
    assert (await state.first_time("Fx1", "Ev3")).value is False  # any id seen: a redelivery
    assert (await state.first_time()).value is True  # nothing to recognise it by
    clock.now += 3601
    assert (await state.first_time("Ev1")).value is True


async def test_memory_dedup_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_module, "DEDUP_MAXSIZE", 3)
    state = MemoryState()
    for delivery_id in ("a", "b", "c", "d"):
        assert (await state.first_time(delivery_id)).value is True
    assert (await state.first_time("a")).value is True  # evicted, not kept forever
    assert (await state.first_time("d")).value is False


async def test_memory_run_once_shares_one_call_among_concurrent_callers() -> None:
    state = MemoryState()
    work = Work("stopped")
    first, second = run(state, "m1", work), run(state, "m1", work)
    await work.started.wait()
    work.release.set()
    assert await first == ("stopped", False, "local")
    assert await second == ("stopped", True, "local")
    assert work.calls == 1
    again = Work("again")
    again.release.set()
    assert await run(state, "m1", again) == ("again", False, "local")  # only while running


async def test_memory_rate_limit_is_a_sliding_minute_per_person() -> None:
    clock = Clock()
    state = MemoryState(clock=clock)
    for _ in range(3):
        assert await state.take("U1", 3) == (None, "local")
        clock.now += 10
    assert await state.take("U1", 3) == (30.0, "local")
    assert await state.take("U2", 3) == (None, "local")
    assert await state.take("U1", 0) == (None, "local")
    clock.now += 30
    assert await state.take("U1", 3) == (None, "local")


async def test_memory_batch_is_exclusive_until_ended_or_expired() -> None:
    clock = Clock()
    state = MemoryState(clock=clock)
    assert await state.begin_batch("b1", ttl=60) == (None, "local")
    assert await state.begin_batch("b2", ttl=60) == ("b1", "local")
    await state.end_batch("b2")  # not the holder: changes nothing
    assert await state.begin_batch("b2", ttl=60) == ("b1", "local")
    await state.set_batch_summary("b1", '{"stopped": 2}', ttl=120)
    assert await state.get_batch_summary("b1") == ('{"stopped": 2}', "local")
    await state.end_batch("b1")
    assert await state.begin_batch("b2", ttl=60) == (None, "local")
    clock.now += 61
    assert await state.begin_batch("b3", ttl=60) == (None, "local")  # b2 expired
    clock.now += 60
    assert await state.get_batch_summary("b1") == (None, "local")


async def test_a_url_that_is_not_a_store_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://") as refused:
        await open_state(f"http://user:{PASSWORD}@example.test/")
    assert PASSWORD not in str(refused.value)


# ------------------------------------------------------------------------ on Valkey


async def test_a_delivery_is_acted_on_once_across_copies(
    pair: tuple[StoreState, StoreState],
) -> None:
    a, b = pair
    assert a.status == b.status == "shared"
    assert await a.first_time("Ev1", "Fx1") == (True, "shared")
    assert await b.first_time("Ev1") == (False, "shared")
    assert await b.first_time("Fx2", "Fx1") == (False, "shared")
    assert await b.first_time("Ev2") == (True, "shared")


async def test_copies_share_one_call_per_key(
    pair: tuple[StoreState, StoreState], raw: Redis
) -> None:
    a, b = pair
    first, elsewhere = Work("stopped by a"), Work("stopped by b")
    holder = run(a, "m1", first)
    await first.started.wait()
    joiners = [run(b, "m1", elsewhere), run(b, "m1", elsewhere)]
    await eventually(lambda: _at_least(subscribers(raw, "m1"), 1))
    first.release.set()
    assert await holder == ("stopped by a", False, "shared")
    for joiner in joiners:
        assert await joiner == ("stopped by a", True, "shared")
    assert (first.calls, elsewhere.calls) == (1, 0)
    stats = await raw.info("commandstats")
    assert stats["cmdstat_subscribe"]["calls"] == 1  # b's two callers: one waited on the store


async def _at_least(count: Awaitable[int], least: int) -> bool:
    return await count >= least


async def test_a_holder_that_lost_its_lock_cannot_overwrite_the_newer_call(
    valkey: ValkeyServer, raw: Redis
) -> None:
    a, b, c = await store(valkey), await store(valkey), await store(valkey)
    stale, newer, never = Work("a's value"), Work("b's value"), Work("c's value")
    old = run(a, "m1", stale, lock_ttl=5)
    await stale.started.wait()
    # a loses its lock while its call runs (a stall outlasted it); b takes the lock, c
    # joins b's call.
    await raw.delete(f"{PREFIX}lock:m1")
    current = run(b, "m1", newer, lock_ttl=5)
    await newer.started.wait()
    joiner = run(c, "m1", never, lock_ttl=5)
    await eventually(lambda: _at_least(subscribers(raw, "m1"), 1))
    stale.release.set()
    assert await old == ("a's value", False, "shared")  # a's own requester still gets it
    assert not joiner.done()
    assert await raw.get(f"{PREFIX}lock:m1") is not None  # a did not release b's lock
    newer.release.set()
    assert await current == ("b's value", False, "shared")
    assert await joiner == ("b's value", True, "shared")
    assert never.calls == 0
    for state in (a, b, c):
        await state.aclose()


async def test_a_dead_holders_lock_expires_and_another_copy_runs_the_work(
    pair: tuple[StoreState, StoreState], raw: Redis
) -> None:
    _, b = pair
    alive = Work("stopped by b")
    alive.release.set()
    # A copy took the lock and died (SIGKILL): nobody renews it.
    await raw.set(f"{PREFIX}lock:m1", "999", px=300)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await run(b, "m1", alive, lock_ttl=0.3) == ("stopped by b", False, "shared")
    assert 0.2 <= loop.time() - started < 2.0  # waited for the lock's expiry, no longer
    assert alive.calls == 1


async def test_a_live_holder_renews_its_lock_so_a_long_call_is_not_run_twice(
    pair: tuple[StoreState, StoreState],
) -> None:
    a, b = pair
    slow, second = Work("stopped by a"), Work("never")
    holder = run(a, "m1", slow, lock_ttl=0.3)
    await slow.started.wait()
    waiter = run(b, "m1", second, lock_ttl=0.3)
    with pytest.raises(TimeoutError):  # three lock lifetimes: a still holds it
        await asyncio.wait_for(asyncio.shield(waiter), 0.9)
    assert second.calls == 0, "b ran the work while a, alive, still ran it"
    slow.release.set()
    assert await holder == ("stopped by a", False, "shared")
    assert await waiter == ("stopped by a", True, "shared")
    assert second.calls == 0


async def test_a_holder_whose_work_fails_lets_the_waiter_run_at_once(
    pair: tuple[StoreState, StoreState], raw: Redis
) -> None:
    a, b = pair
    failing, fallback = Work("", fail=True), Work("stopped by b")
    fallback.release.set()
    holder = run(a, "m1", failing, lock_ttl=30)
    await failing.started.wait()
    waiter = run(b, "m1", fallback, lock_ttl=30)
    await eventually(lambda: _at_least(subscribers(raw, "m1"), 1))
    failing.release.set()
    with pytest.raises(RuntimeError):
        await holder
    async with asyncio.timeout(2):  # not the 30 s lock
        assert await waiter == ("stopped by b", False, "shared")


async def test_through_a_store_stall_a_waiter_acts_alone_only_once_the_holders_lock_is_up(
    pair: tuple[StoreState, StoreState], valkey: ValkeyServer, raw: Redis
) -> None:
    a, b = pair
    stuck, alive = Work("never returns"), Work("stopped by b")
    alive.release.set()
    holder = run(a, "m1", stuck, lock_ttl=1.0)
    await stuck.started.wait()
    loop = asyncio.get_running_loop()
    held_since = loop.time()  # a took its 1 s lock just before
    waiter = run(b, "m1", alive, lock_ttl=1.0)
    await eventually(lambda: _at_least(subscribers(raw, "m1"), 1))
    valkey.freeze()
    try:
        async with asyncio.timeout(3):  # the lock, then at most a store timeout or two
            assert await waiter == ("stopped by b", False, "local")
        assert loop.time() - held_since >= 0.9, "b called while a's lock was live"
    finally:
        valkey.thaw()
    stuck.release.set()
    await holder


async def test_a_holder_that_saw_the_store_stall_still_hands_its_value_to_the_waiter(
    valkey: ValkeyServer, raw: Redis
) -> None:
    # a's probe would bring it back within a minute: its call ends before that.
    a = await open_state(valkey.url, prefix=PREFIX, call_timeout=0.3, probe_every=60)
    b = await store(valkey)
    first, elsewhere = Work("stopped by a"), Work("stopped by b")
    holder = run(a, "m1", first, lock_ttl=30)
    await first.started.wait()
    waiter = run(b, "m1", elsewhere, lock_ttl=30)
    await eventually(lambda: _at_least(subscribers(raw, "m1"), 1))
    valkey.freeze()
    try:
        assert await a.first_time("Ev1") == (True, "local")  # a saw the stall too
    finally:
        valkey.thaw()
    assert a.status == "unavailable"
    first.release.set()
    assert await holder == ("stopped by a", False, "shared")
    async with asyncio.timeout(2):  # not the 30 s lock
        assert await waiter == ("stopped by a", True, "shared")
    assert (first.calls, elsewhere.calls) == (1, 0)
    await a.aclose()
    await b.aclose()


async def test_the_rate_limit_counts_across_copies(
    pair: tuple[StoreState, StoreState],
) -> None:
    a, b = pair
    assert await a.take("U1", 3) == (None, "shared")
    assert await b.take("U1", 3) == (None, "shared")
    assert await a.take("U1", 3) == (None, "shared")
    retry_after, where = await b.take("U1", 3)
    assert where == "shared"
    assert retry_after is not None and 55 < retry_after <= 60
    assert await b.take("U2", 3) == (None, "shared")
    assert await b.take("U1", 0) == (None, "shared")


async def test_one_batch_at_a_time_across_copies(
    pair: tuple[StoreState, StoreState],
) -> None:
    a, b = pair
    assert await a.begin_batch("b1", ttl=30) == (None, "shared")
    assert await b.begin_batch("b2", ttl=30) == ("b1", "shared")
    assert await a.set_batch_summary("b1", '{"stopped": 3}') == "shared"
    assert await b.get_batch_summary("b1") == ('{"stopped": 3}', "shared")
    await b.end_batch("b2")  # not the holder
    assert await b.begin_batch("b2", ttl=0.2) == ("b1", "shared")
    assert await a.end_batch("b1") == "shared"
    assert await b.begin_batch("b2", ttl=0.2) == (None, "shared")

    async def expired() -> bool:
        return await a.begin_batch("b3", ttl=30) == (None, "shared")

    await eventually(expired)


async def test_a_store_lost_mid_run_falls_back_to_local_with_one_warning(
    pair: tuple[StoreState, StoreState], valkey: ValkeyServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = pair
    assert await a.first_time("Ev1") == (True, "shared")
    await valkey.kill()
    caplog.clear()
    assert await a.first_time("Ev2") == (True, "local")
    assert await a.first_time("Ev2") == (False, "local")
    assert await a.first_time("Ev1") == (False, "local")  # remembered here as well
    assert a.status == "unavailable"
    work = Work("stopped here")
    work.release.set()
    assert await run(a, "m1", work) == ("stopped here", False, "local")
    for _ in range(3):
        assert await a.take("U1", 3) == (None, "local")
    assert (await a.take("U1", 3)).value is not None
    assert await a.begin_batch("b1", ttl=30) == (None, "local")
    assert await a.begin_batch("b2", ttl=30) == ("b1", "local")
    assert await a.set_batch_summary("b1", "{}") == "local"
    assert await a.get_batch_summary("b1") == ("{}", "local")
    assert len(warnings(caplog)) == 1, warnings(caplog)


async def test_a_restarted_store_is_shared_again_without_a_new_state(
    pair: tuple[StoreState, StoreState], valkey: ValkeyServer
) -> None:
    a, b = pair
    await valkey.kill()
    assert await a.first_time("Ev1") == (True, "local")
    await valkey.start()

    async def shared_again() -> bool:
        return a.status == "shared"

    await eventually(shared_again)
    assert await a.first_time("Ev2") == (True, "shared")
    assert await b.first_time("Ev2") == (False, "shared")


async def test_a_flapping_store_warns_once_a_minute(
    pair: tuple[StoreState, StoreState], valkey: ValkeyServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, _ = pair

    async def shared_again() -> bool:
        return a.status == "shared"

    for round_ in range(3):
        await valkey.kill()
        assert await a.first_time(f"Ev{round_}") == (True, "local")
        await valkey.start()
        await eventually(shared_again)
    assert len(warnings(caplog)) == 1, warnings(caplog)


async def test_a_hung_store_delays_a_call_by_at_most_its_timeout(
    pair: tuple[StoreState, StoreState], valkey: ValkeyServer
) -> None:
    a, _ = pair
    assert await a.first_time("Ev1") == (True, "shared")
    valkey.freeze()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await a.first_time("Ev2") == (True, "local")
    assert loop.time() - started < 0.3 + 0.2  # call_timeout plus scheduling slack
    started = loop.time()
    assert await a.take("U1", 3) == (None, "local")  # known down: not tried again
    assert loop.time() - started < 0.05
    valkey.thaw()


async def test_an_unreachable_store_at_start_is_retried_in_the_background(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = ValkeyServer(tmp_path, free_port(), password=PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
    state = await open_state(url, prefix=PREFIX, call_timeout=0.3, probe_every=0.05)
    try:
        assert state.status == "unavailable"
        assert await state.first_time("Ev1") == (True, "local")
        assert len(warnings(caplog)) == 1
        assert all(PASSWORD not in r.getMessage() for r in caplog.records)
        await server.start()  # it requires the URL's password: AUTH is used on reconnect

        async def shared() -> bool:
            return state.status == "shared"

        await eventually(shared)
        assert await state.first_time("Ev1") == (True, "shared")
    finally:
        await state.aclose()
        await server.kill()
