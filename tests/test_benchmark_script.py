"""benchmarks/burst.py still runs end to end (a tiny burst; no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, run_python


async def test_burst_benchmark_runs_every_target_and_two_copies_on_one_valkey(
    tmp_path: Path,
) -> None:
    # One run for every target (one-copy bot, two copies on Valkey, sync, floor): each
    # target's processes start once, not once per test.
    code, out, err = await run_python(
        str(ROOT / "benchmarks" / "burst.py"),
        "-n", "4", "--delay", "0.05", "--only", "bot,sync,floor", "--copies", "2",
        "--state", "valkey", "--sequential", "3", "--window", "20",
        env={"TMPDIR": str(tmp_path), "BENCH_LOG_LEVEL": "INFO"}, cwd=tmp_path, within=120,
    )  # fmt: skip
    assert code == 0, err[-2000:]
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in out.splitlines()
        if line.startswith("| ")
    }
    # acks >3s or failed, answered, API calls
    for target in ("bot", "bot-2x-valkey"):
        [row] = [line for line in out.splitlines() if line.startswith(f"| {target} | 4 | 0.05 |")]
        assert [c.strip() for c in row.split("|")][7:10] == ["0", "4", "4"], target
    assert "sync" in rows and "floor" in rows
    [sequential] = [line for line in out.splitlines() if line.startswith("| bot | 3 | 3 |")]
    assert sequential.split("|")[4].strip() == "1"  # one API connection for 3 stops in a row
    assert "| N | D (s) | ack p99 ms: bot | ack p99 ms: bot-2x-valkey | ratio |" in out
    [compared] = [line for line in out.splitlines() if line.startswith("| 4 | 0.05 |")]
    assert len(compared.split("|")) == 10
    for copy in (0, 1):  # each copy ran on the shared store, not in memory
        log = (tmp_path / f"burst-bot-2x-valkey-{copy}.log").read_text()
        assert "sharing state on redis://127.0.0.1:" in log, log


async def test_cold_authorize_benchmark_runs_and_shows_one_auth_test_for_the_bot(
    tmp_path: Path,
) -> None:
    code, out, err = await run_python(
        str(ROOT / "benchmarks" / "cold_authorize.py"), env={}, cwd=tmp_path
    )
    assert code == 0, err[-2000:]
    assert "cached_authorize: 1 auth.test calls" in out
    assert "bolt_single_team: " in out
