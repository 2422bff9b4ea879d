"""benchmarks/typeahead.py still runs end to end (a tiny app; no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, run_python


async def test_typeahead_benchmark_runs_and_answers_every_keystroke(tmp_path: Path) -> None:
    code, out, err = await run_python(
        str(ROOT / "benchmarks" / "typeahead.py"),
        "-n", "10", "--delay", "0.01", "-k", "4", "--gap", "0.01",
        env={"TMPDIR": str(tmp_path)}, cwd=tmp_path, within=120,
    )  # fmt: skip
    assert code == 0, err[-2000:]
    [row] = [line for line in out.splitlines() if line.startswith("| 4 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:6] == ["0", "1"]  # no empty answer; one list page per answer at most
    assert "| stream name |" in out and "| completed |" in out
