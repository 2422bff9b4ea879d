"""benchmarks/typeahead.py still runs end to end (a tiny app; no timing is asserted)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import ROOT, process_env


async def test_typeahead_benchmark_runs_and_answers_every_keystroke(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "typeahead.py"),
        "-n", "10", "--delay", "0.01", "-k", "4", "--gap", "0.01",
        env=process_env({"TMPDIR": str(tmp_path)}), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out_bytes, err = await asyncio.wait_for(proc.communicate(), 120)
    out = out_bytes.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    [row] = [line for line in out.splitlines() if line.startswith("| 4 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:6] == ["0", "1"]  # no empty answer; one list page per answer at most
    assert "| stream name |" in out and "| completed |" in out
