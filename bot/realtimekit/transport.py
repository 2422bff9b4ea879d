"""The HTTP underneath the client: one connection limit over small httpx pools, bodies
read with a size cap, and connect errors named."""

from __future__ import annotations

import errno
import importlib.util
import socket
import ssl
import sys
from dataclasses import dataclass

import certifi
import httpx

from bot.env import Secret
from bot.realtimekit.results import UnreachableReason

# httpcore imports sniffio afresh each time it makes a lock (httpcore/_synchronization.py,
# current_async_library), about 8 times per request. sniffio is not installed (anyio no
# longer needs it) and Python does not cache a failed import, so each one searched
# sys.path: 8,000 failed imports took 1.37 s of CPU here, 0.05 s once marked absent,
# i.e. ~1.3 ms per API call saved. Marked absent, the import fails at once and httpcore
# assumes asyncio, which is what runs it.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

MAX_BODY_BYTES = 1_000_000
# Connect-phase failures never reached the API, so httpx's transport retries them,
# each connect bounded so that every try fits within one attempt's timeout.
CONNECT_RETRIES = 1


POOL_SIZE = 10


class SplitPools:
    """One connection limit spread over several small httpx clients.

    httpcore's pool does work quadratic in its connection count on every request:
    with one 50-connection pool, `_assign_requests_to_connections` took most of the
    bot's CPU in a 100-stop burst (742k `is_idle` calls; `benchmarks/burst.py -n 100
    --concurrency 100`: overhead p50 439 ms with one pool, 230 ms split in pools of 10).
    A request takes the first client with room, so a quiet bot uses one connection."""

    def __init__(self, base_url: str, timeout: float, connections: int) -> None:
        # One TLS context for every pool: each one httpx would make loads the CA bundle
        # again (36 ms here, five times at start, on the event loop).
        tls = ssl.create_default_context(cafile=certifi.where())
        self._pools = [
            _Pool(
                httpx.AsyncClient(
                    base_url=base_url.rstrip("/"),
                    timeout=httpx.Timeout(timeout, connect=timeout / (CONNECT_RETRIES + 2)),
                    transport=httpx.AsyncHTTPTransport(
                        verify=tls,
                        retries=CONNECT_RETRIES,
                        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                    ),
                ),
                size,
            )
            for size in _split(connections, POOL_SIZE)
        ]

    @property
    def base_url(self) -> httpx.URL:
        """Where requests go."""
        return self._pools[0].http.base_url

    async def send(self, method: str, path: str, token: Secret) -> Answer:
        """One request; the caller bounds requests in flight to the total size."""
        pool = next(p for p in self._pools if p.busy < p.size)
        pool.busy += 1
        try:
            return await _read(pool.http, method, path, token)
        finally:
            pool.busy -= 1

    async def aclose(self) -> None:
        """Close every connection."""
        for pool in self._pools:
            await pool.http.aclose()


@dataclass
class _Pool:
    http: httpx.AsyncClient
    size: int
    busy: int = 0


def _split(total: int, size: int) -> list[int]:
    """`total` as parts of at most `size`: 25, 10 -> [10, 10, 5]."""
    return [min(size, total - start) for start in range(0, total, size)]


async def _read(http: httpx.AsyncClient, method: str, path: str, token: Secret) -> Answer:
    headers = {"Authorization": f"Bearer {token.get()}", "Accept": "application/json"}
    async with http.stream(method, path, headers=headers) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return Answer(response.status_code, response.headers, b"", too_large=True)
            chunks.append(chunk)
        return Answer(response.status_code, response.headers, b"".join(chunks))


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, read in full (unless it was over MAX_BODY_BYTES)."""

    status: int
    headers: httpx.Headers
    body: bytes
    too_large: bool = False


def connect_reason(error: httpx.ConnectError) -> UnreachableReason:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "dns"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "refused"
        cause = cause.__cause__ or cause.__context__
    text = str(error).lower()
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return "dns"
    if "refused" in text or "all connection attempts failed" in text:
        return "refused"
    return "network"
