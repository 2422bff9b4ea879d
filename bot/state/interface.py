"""The one interface to shared state, and the small typed answers it gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, Literal, NamedTuple, Protocol, TypeVar

T = TypeVar("T")
V = TypeVar("V")

Status = Literal["shared", "local", "unavailable"]
"""What /healthz reports: "local" when no store is configured (one process, state in
memory, by design); "shared" when a store is configured and answering; "unavailable" when
a store is configured but not answering (every operation runs locally until it answers)."""

Where = Literal["shared", "local"]
"""Where one call was decided: "shared" through the store, "local" by this process alone
(no store configured, or the store down or failing during the call). For the audit line."""

DEDUP_SECONDS = 3600.0
SUMMARY_SECONDS = 3600.0


class Decision(NamedTuple, Generic[T]):
    """An operation's value and where it was decided; unpacks as `value, where`."""

    value: T
    where: Where


class Flight(NamedTuple, Generic[V]):
    """The outcome of `run_once`: the value, whether this caller joined a call someone
    else started (in this process or another), and where the call was coordinated."""

    value: V
    joined: bool
    where: Where


class State(Protocol):
    """What must hold across every copy of the bot. Operations never raise because the
    store failed: they fall back to this process's memory and answer "local"."""

    @property
    def status(self) -> Status:
        """One of "local", "shared" or "unavailable": see `Status`."""
        ...

    async def first_time(self, *delivery_ids: str) -> Decision[bool]:
        """True unless any of these ids was seen in the last hour (by any copy); marks
        them all as seen. No ids: True."""
        ...

    async def run_once(
        self,
        key: str,
        work: Callable[[], Awaitable[V]],
        encode: Callable[[V], str],
        decode: Callable[[str], V],
        *,
        lock_ttl: float,
    ) -> Flight[V]:
        """Run `work` unless a call for `key` is already under way somewhere, in which
        case wait for that call's value. `lock_ttl` (seconds) bounds how long a call may
        hold `key`: past it the holder is presumed dead and a waiter runs `work` itself.
        `decode(encode(v))` must give back an equal value (waiters in other copies get
        the value through the store as a string)."""
        ...

    async def take(self, user_id: str, per_minute: int) -> Decision[float | None]:
        """Count one action for `user_id` against `per_minute` in any 60 s (0: no
        limit); value None if allowed, else the seconds until it would be."""
        ...

    async def remember(
        self, key: str, value: str, ttl: float, *, replace: bool = False
    ) -> Decision[str | None]:
        """Keep `value` under `key` for `ttl` seconds (by every copy), unless a value is
        there already and not `replace`; value: the one that was there (None if none)."""
        ...

    async def take_call(self, limit: int, window: float) -> Decision[float | None]:
        """Count one API request against `limit` in any `window` s, for every copy;
        value None if it may go now, else the seconds to wait (the window is full, or
        calls are paused), and then nothing is counted."""
        ...

    async def pause_calls(self, seconds: float) -> Where:
        """Let no copy send an API request for `seconds` (a 429's Retry-After); a
        longer pause already set stays."""
        ...

    async def begin_batch(self, batch_id: str, ttl: float) -> Decision[str | None]:
        """Claim the one batch slot for `ttl` seconds; value None if ours, else the id
        of the batch already running."""
        ...

    async def end_batch(self, batch_id: str) -> Where:
        """Release the batch slot, if `batch_id` still holds it."""
        ...

    async def set_batch_summary(
        self, batch_id: str, summary: str, ttl: float = SUMMARY_SECONDS
    ) -> Where:
        """Keep a batch's summary (e.g. JSON) for `ttl` seconds."""
        ...

    async def get_batch_summary(self, batch_id: str) -> Decision[str | None]:
        """A batch's summary, if one was kept."""
        ...

    async def aclose(self) -> None:
        """Stop background work and close connections."""
        ...
