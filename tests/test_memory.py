"""Memory: what the bot keeps per person is let go once it no longer counts."""

from __future__ import annotations

import pytest

from bot.access import RateLimit
from bot.state import memory as memory_module
from tests.conftest import MEETING, StartBot
from tests.fakes.servers import FakeSlack
from tests.test_access import members


async def test_rate_limit_forgets_people_a_minute_after_their_last_stop(
    start_bot: StartBot, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    kept: list[RateLimit] = []

    def on_our_clock(per_minute: int, _clock: object) -> RateLimit:
        kept.append(RateLimit(per_minute, lambda: now[0]))
        return kept[-1]

    monkeypatch.setattr(memory_module, "RateLimit", on_our_clock)
    people = [f"U0P{i:04d}" for i in range(20)]
    bot = await start_bot(ALLOWED_USER_IDS="", ALLOWED_USERGROUP_IDS="S0ONCALL")
    slack.answer_api("usergroups.users.list", members(*people, "U0LATE"))  # type: ignore[arg-type]
    for person in people:
        await bot.command(MEETING, person, response=person)
    await slack.wait_responses(2 * len(people))  # "Stopping…" and the outcome, each
    [limit] = kept
    assert len(limit._seen) == len(people)  # each one's last minute counts

    now[0] += 61  # a minute on, none of those stops counts any more
    await bot.command(MEETING, "U0LATE", response="late")
    await slack.wait_responses(2, "late")
    assert list(limit._seen) == ["U0LATE"]
