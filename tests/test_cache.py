"""The one cache: per-entry lifetimes, and concurrent loads of one key sharing one run."""

from __future__ import annotations

import asyncio

import pytest

from bot.cache import Cache


async def test_concurrent_loads_share_one_run_and_its_value_is_kept_for_its_lifetime() -> None:
    now = [0.0]
    runs: list[str] = []
    gate = asyncio.Event()

    async def work() -> str:
        runs.append("run")
        await gate.wait()
        return "value"

    cache: Cache[str, str] = Cache(10, timer=lambda: now[0])
    waits = [cache.load("k", work) for _ in range(3)]
    assert cache.running("k")
    gate.set()
    assert await asyncio.gather(*waits) == ["value"] * 3
    assert runs == ["run"] and cache.get("k") == "value"
    now[0] = 9.9
    assert await cache.load("k", work) == "value" and runs == ["run"]
    now[0] = 10.0
    assert "k" not in cache
    await cache.load("k", work)
    assert runs == ["run", "run"]


async def test_each_value_has_its_own_lifetime_and_zero_keeps_it_not_at_all() -> None:
    now = [0.0]
    cache: Cache[str, int] = Cache(lambda v: 0 if v < 0 else float(v), timer=lambda: now[0])

    async def answer(value: int) -> int:
        return value

    assert await cache.load("failed", lambda: answer(-1)) == -1
    assert await cache.load("short", lambda: answer(5)) == 5
    assert await cache.load("long", lambda: answer(50)) == 50
    assert "failed" not in cache
    now[0] = 6.0
    assert ("short" in cache, "long" in cache) == (False, True)


async def test_an_exception_is_not_kept_and_a_cancelled_wait_leaves_the_run_to_the_others() -> None:
    cache: Cache[str, str] = Cache(60)

    async def fails() -> str:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        await cache.load("k", fails)
    assert "k" not in cache and not cache.running("k")

    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "done"

    first, second = cache.load("k", slow), cache.load("k", slow)
    first.cancel()
    gate.set()
    assert await second == "done" and cache.get("k") == "done"


async def test_fresh_skips_the_kept_value_but_joins_a_load_under_way() -> None:
    loads: list[int] = []

    async def work() -> int:
        loads.append(1)
        return len(loads)

    cache: Cache[None, int] = Cache(60, maxsize=1)
    assert await cache.load(None, work) == 1
    assert await cache.load(None, work) == 1  # kept
    both = cache.load(None, work, fresh=True), cache.load(None, work, fresh=True)
    assert await asyncio.gather(*both) == [2, 2]
