"""benchmarks/stop_all.py still runs end to end (a tiny batch; no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, run_python


async def test_stop_all_benchmark_runs_and_counts_every_stop(tmp_path: Path) -> None:
    code, out, err = await run_python(
        str(ROOT / "benchmarks" / "stop_all.py"),
        "-n", "20", "--delay", "0.01", "--cap", "5", "--window", "20", env={}, cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err[-2000:]
    [row] = [line for line in out.splitlines() if line.startswith("| 20 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    # N, D, cap, ideal, elapsed, ratio, peak, stopped, stopped twice, left live, calls, posts
    assert cells[0:3] == ["20", "0.01", "5"]
    assert 1 <= int(cells[6]) <= 5
    # API calls: the press's list read, 20 stops, the read after them that finds none left.
    assert cells[7:] == ["20", "0", "0", "22", "1"]
