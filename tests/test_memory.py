"""Memory: what the bot keeps per person or per stop is let go once it no longer counts."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.access import RateLimit
from bot.demo.realtimekit import StandInRealtimeKit as FakeCloudflare
from bot.demo.standins import StandInSlack as FakeSlack
from bot.service.reads import TITLE_READS
from bot.state import memory as memory_module
from tests.conftest import MEETING, StartBot
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
    limit = kept[0]  # the first made: the people's
    assert len(limit._seen) == len(people)  # each one's last minute counts

    now[0] += 61  # a minute on, none of those stops counts any more
    await bot.command(MEETING, "U0LATE", response="late")
    await slack.wait_responses(2, "late")
    assert list(limit._seen) == ["U0LATE"]


async def test_title_reads_nobody_waits_for_do_not_queue_up(
    start_bot: StartBot, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    gate = asyncio.Event()
    for _ in range(TITLE_READS):  # every slot for title reads hangs until the gate opens
        cloudflare.meeting_answers.append(cloudflare.gated(gate))
    bot = await start_bot(RATE_LIMIT_PER_USER_PER_MINUTE="0")
    for _ in range(3 * TITLE_READS):
        await bot.command(str(uuid.uuid4()))
    # Each is posted after its names had their second, without the title.
    await slack.wait_responses(2 * 3 * TITLE_READS)
    gate.set()
    later = str(uuid.uuid4())
    await bot.command(later, response="later")
    await cloudflare.recorder.wait_for(
        lambda _: any(later in r.path for r in cloudflare.meeting_calls()), 5
    )
    # The reads that never got a slot were dropped, not left queued ahead of this one.
    assert len(cloudflare.meeting_calls()) == TITLE_READS + 1
