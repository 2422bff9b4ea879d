"""benchmarks/burst.py still runs end to end (a tiny burst; no timing is asserted)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import ROOT, process_env


async def test_burst_benchmark_runs_and_counts_every_reply(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "burst.py"),
        "-n", "3", "--delay", "0.05", "--only", "bot,sync,floor", "--sequential", "3", "--window", "20",
        env=process_env({}), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out_bytes, err = await asyncio.wait_for(proc.communicate(), 120)
    out = out_bytes.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in out.splitlines()
        if line.startswith("| ")
    }
    burst = [line.split("|") for line in out.splitlines() if line.startswith("| bot | 3 | 0.05 |")]
    [bot] = burst
    cells = [c.strip() for c in bot]
    # acks >3s or failed, answered, API calls
    assert cells[7:10] == ["0", "3", "3"]
    assert "sync" in rows and "floor" in rows
    [sequential] = [line for line in out.splitlines() if line.startswith("| bot | 3 | 3 |")]
    assert sequential.split("|")[4].strip() == "1"  # one API connection for 3 stops in a row
