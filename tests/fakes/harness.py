"""How tests watch the bot: its log records in this process, or the bot as a process."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class LogWatch(logging.Handler):
    """Collects log records from the bot running in this process; tests can wait for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)
        self.records.append(record)
        self._changed.set()

    def lines(self, logger: str | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if logger is None or r.name == logger]

    def text(self) -> str:
        """Everything logged, tracebacks included."""
        return "\n".join(r.getMessage() + "\n" + (r.exc_text or "") for r in self.records)

    def audit(self) -> list[dict[str, Any]]:
        """Audit records, parsed."""
        return [json.loads(line) for line in self.lines("bot.audit")]

    async def wait_for(self, predicate: Callable[[LogWatch], bool], timeout: float = 5.0) -> None:
        async def until() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)


def process_env(env: dict[str, str]) -> dict[str, str]:
    """A clean environment for the bot process: no inherited bot settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    return {**keep, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


async def run_python(
    *args: str, env: dict[str, str], cwd: Path, within: float = 60.0
) -> tuple[int, str, str]:
    """`python *args` in `cwd` with `env` (see process_env) to its end, killed after
    `within` s: its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=process_env(env), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclasses.dataclass
class BotProcess:
    """`python -m bot http` running as its own process, its stderr read line by line."""

    proc: asyncio.subprocess.Process
    url: str
    lines: list[str]

    async def until(self, text: str, timeout: float = 30.0) -> str:
        """Read stderr until a line containing `text`; return that line."""

        async def read() -> str:
            assert self.proc.stderr is not None
            while True:
                line = (await self.proc.stderr.readline()).decode()
                if not line:
                    raise AssertionError(
                        f"the bot exited before printing {text!r}:\n{''.join(self.lines)}"
                    )
                self.lines.append(line)
                if text in line:
                    return line

        return await asyncio.wait_for(read(), timeout)

    async def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        """SIGTERM, wait for exit; return the exit code and all of stderr."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stderr is not None
        rest = await asyncio.wait_for(self.proc.stderr.read(), timeout)
        self.lines.append(rest.decode())
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        return code, "".join(self.lines)
