"""`stop-livestream-bot demo`: no credentials, no network, no .env; exits 0."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_python


async def test_demo_runs_the_scripted_session_and_exits_0(tmp_path: Path) -> None:
    # An empty environment and working directory: nothing to read credentials from.
    code, out, err = await run_python("-m", "bot", "demo", env={}, cwd=tmp_path)
    assert code == 0, err
    assert "Traceback" not in err
    steps = out.split("=" * 78)
    assert len(steps) == 9
    assert "Only the person sees:" in steps[1] and "5 livestreams live" in steps[1]
    assert "Main stage — Product launch (7c9e6679-" in steps[1] and "live for 42 min" in steps[1]
    assert '"event":"list"' in steps[1] and "In #events" not in steps[1]
    assert "In #events, everyone sees:" in steps[2] and "@alice stopped the livestream" in steps[2]
    assert "the livestream Main stage of meeting Product launch" in steps[2]
    assert "nothing to stop" in steps[3] and "No active livestream found" in steps[3]
    assert "Only the person sees:" in steps[4] and "not allowed" in steps[4]
    assert "In #events" not in steps[4]
    assert "is not a meeting ID" in steps[5] and "In #events" not in steps[5]
    assert "The workflow step completed" in steps[6]
    assert "3 livestreams are live now" in steps[7] and "Hall A" in steps[7]
    assert "In #events" not in steps[7]
    assert "@alice stopped every livestream" in steps[8] and "3 stopped" in steps[8]
    assert steps[8].count('"door":"stop_all"') == 4  # one line a meeting, one for the batch
    assert steps[2].count('"event":"stop"') == 1  # its audit line
    assert '"decision":"denied"' in steps[4] and '"decision":"invalid"' in steps[5]
    assert list(tmp_path.iterdir()) == []  # left nothing behind


def test_demo_is_the_readme_first_run_command() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = [line.strip() for line in readme.splitlines() if line.strip().startswith("uv run ")]
    assert commands[0] == "uv run stop-livestream-bot demo"
