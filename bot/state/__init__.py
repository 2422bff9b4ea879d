"""What must be shared between copies of the bot: in memory, or on Valkey/Redis.

    state = await open_state(settings.state_url)      # None: MemoryState
    fresh, where = await state.first_time(*request.delivery_ids)
    flight = await state.run_once(meeting_id, call, encode, decode, lock_ttl=...)
    retry_after, where = await state.take(user_id, per_minute)
    running, where = await state.begin_batch(batch_id, ttl)
    state.status                                       # for /healthz
    await state.aclose()

Every answer says where it was decided ("shared" or "local"); see `Status` for what
`status` reports. A StoreState is a MemoryState (its fallback), so `State` names both."""

from __future__ import annotations

from bot.state.connection import describe
from bot.state.memory import (
    DEDUP_SECONDS,
    SUMMARY_SECONDS,
    Decision,
    Flight,
    MemoryState,
    Status,
    Where,
)
from bot.state.store import StoreState

State = MemoryState
"""The interface every copy's state has: MemoryState's, which StoreState extends."""

__all__ = [
    "DEDUP_SECONDS",
    "SUMMARY_SECONDS",
    "Decision",
    "Flight",
    "MemoryState",
    "State",
    "Status",
    "StoreState",
    "Where",
    "describe",
    "open_state",
]

DEFAULT_PREFIX = "stop-livestream-bot:"


async def open_state(
    url: str | None,
    *,
    prefix: str = DEFAULT_PREFIX,
    dedup_ttl: float = DEDUP_SECONDS,
    call_timeout: float = 0.5,
    probe_every: float = 2.0,
) -> State:
    """MemoryState when `url` is empty, else a StoreState that has made first contact
    (if the store does not answer, it warns and keeps trying in the background).

    `prefix` namespaces every key (give each app its own, e.g. with the app id);
    `call_timeout` bounds each store call; `probe_every` is how often a store that stopped
    answering is PINGed. Raises ValueError, naming no part of the URL, for a URL that
    is not redis://, rediss:// or unix://."""
    if not url:
        return MemoryState(dedup_ttl)
    state = StoreState(
        url, prefix=prefix, dedup_ttl=dedup_ttl, call_timeout=call_timeout, probe_every=probe_every
    )
    await state.start()
    return state
