"""`/stop-livestream all`: who may, the confirmation, the batch, its summary and audit."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bot import app
from bot.demo.realtimekit import StandInRealtimeKit as FakeLiveApp
from bot.demo.standins import StandInSlack as FakeSlack
from bot.realtimekit import ApiError, MeetingId, client
from bot.service import batch
from bot.service import stop_all as stopping_all
from bot.service.stop import StopService
from bot.state import MemoryState
from tests.conftest import ALLOWED, OTHER_ALLOWED, LogWatch, RunningBot, StartBot
from tests.fakes import payloads
from tests.fakes.livekit import action_buttons as buttons

CONFIRM = "stop_all_livestreams"
RETRY = "stop_all_retry"


@pytest.fixture
def live_app(rk: FakeLiveApp) -> FakeLiveApp:
    """The RealtimeKit stand-in, its list as pages of up to 100 in `data`'s object."""
    rk.shape, rk.page_limit = "wrapped", 100
    return rk


@pytest.fixture
def quiet_http_logs() -> Iterator[None]:
    """The `logs` fixture logs at DEBUG; httpcore's per-request trace would then cost
    more than the 250 stops themselves."""
    loggers = [logging.getLogger(name) for name in ("httpcore", "httpx", "slack_sdk")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


async def start(start_bot: StartBot, live_app: FakeLiveApp, **env: str) -> RunningBot:
    """The bot against `live_app`, with ALLOWED on the stop-all list unless told."""
    env = {"ALLOWED_STOP_ALL_USER_IDS": ALLOWED, **env}
    return await start_bot(CLOUDFLARE_API_BASE_URL=live_app.base_url, **env)


async def press(
    bot: RunningBot,
    value: str,
    user_id: str = ALLOWED,
    *,
    response: str = "press",
    action_id: str = CONFIRM,
    ephemeral: bool = True,
) -> None:
    """Press a stop-all button: on the private confirmation, or (retry) in the channel."""
    payload = payloads.button_click(value, user_id, bot.slack.response_url(response))
    payload["actions"][0]["action_id"] = action_id
    payload["container"]["is_ephemeral"] = ephemeral
    status, _ = await bot.post(payloads.action_body(payload), "application/x-www-form-urlencoded")
    assert status == 200


async def confirmation(bot: RunningBot, user_id: str = ALLOWED) -> dict[str, Any]:
    await bot.command("all", user_id, response=f"confirm-{user_id}")
    [card] = await bot.slack.wait_responses(1, f"confirm-{user_id}")
    return card


async def summary_posts(slack: FakeSlack, count: int = 1, within: float = 10.0) -> list[Any]:
    calls = await slack.wait_calls("chat.postMessage", count, within)
    return [c.data for c in calls]


def batches(outcome: str) -> float:
    """stop_livestream_bot_stop_all_batches_total{outcome} in this process's registry."""
    value = REGISTRY.get_sample_value(
        "stop_livestream_bot_stop_all_batches_total", {"outcome": outcome}
    )
    return value or 0.0


def stop_all_lines(logs: LogWatch, decision: str = "allowed") -> list[dict[str, Any]]:
    return [r for r in logs.audit() if r["event"] == "stop_all" and r["decision"] == decision]


async def test_250_live_streams_are_stopped_once_each_through_repeated_429s(
    start_bot: StartBot,
    live_app: FakeLiveApp,
    slack: FakeSlack,
    logs: LogWatch,
    quiet_http_logs: None,
) -> None:
    meetings = live_app.go_live(250)
    bot = await start(start_bot, live_app)
    [button] = buttons(await confirmation(bot))
    live_app.throttle(0.9, retry_after=0.3, stops_only=True)  # 3 Retry-Afters from the 1st stop
    started = time.monotonic()
    await press(bot, button["value"])
    [post] = await summary_posts(slack, within=15)
    elapsed = time.monotonic() - started

    assert live_app.throttled >= 50  # the stops did meet the 429s
    assert live_app.stopped == {m: 1 for m in meetings} and live_app.live == {}
    assert not live_app.not_live_stops  # nothing was stopped a second time
    assert post["channel"] == "C0OPS"
    assert f"<@{ALLOWED}> stopped every livestream" in post["text"]
    assert "250 livestreams were live: 250 stopped, 0 had already ended, 0 failed" in post["text"]
    assert not buttons(post)  # nothing failed, nothing to try again
    assert live_app.peak <= 50  # CLOUDFLARE_MAX_CONCURRENCY's default
    assert elapsed < 8  # was < 10 with 2.1 s more of 429s

    # The person's last private line, within the response_url's budget of 5 uses.
    await logs.wait_for(lambda w: len(stop_all_lines(w)) == 1)
    await slack.recorder.wait_for(
        lambda _: any("Done." in r["text"] for r in slack.responses("press"))
    )
    private = slack.responses("press")
    assert len(private) <= 5
    assert private[0]["replace_original"] is True  # the confirmation can't be pressed twice
    assert "Done. 250 livestreams were live: 250 stopped" in private[-1]["text"]
    assert all(r["response_type"] == "ephemeral" for r in private)

    [total] = stop_all_lines(logs)
    assert (total["live"], total["stopped"], total["already_ended"], total["failed"]) == (
        250, 250, 0, 0
    )  # fmt: skip
    stops = [r for r in logs.audit() if r["event"] == "stop"]
    assert sorted(r["meeting_id"] for r in stops) == sorted(meetings)
    assert {(r["door"], r["batch_id"], r["outcome"]) for r in stops} == {
        ("stop_all", total["batch_id"], "stopped")
    }
    assert len(slack.calls("chat.postMessage")) == 1


async def test_a_429_on_reading_the_list_is_waited_out(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack
) -> None:
    meetings = live_app.go_live(3)
    bot = await start(start_bot, live_app)
    [button] = buttons(await confirmation(bot))
    live_app.throttle(0.75, retry_after=0.3)  # the press's list read meets it first
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    assert "3 stopped" in post["text"]
    assert live_app.throttled >= 3 and live_app.stopped == {m: 1 for m in meetings}


async def test_nobody_may_stop_all_when_neither_setting_is_set(
    start_bot: StartBot, live_app: FakeLiveApp, logs: LogWatch
) -> None:
    live_app.go_live(3)
    bot = await start_bot(CLOUDFLARE_API_BASE_URL=live_app.base_url)
    card = await confirmation(bot)
    assert "turned off" in card["text"]
    assert "ALLOWED_STOP_ALL_USER_IDS" in card["text"]
    assert "ALLOWED_STOP_ALL_USERGROUP_IDS" in card["text"]
    assert not buttons(card)
    assert live_app.recorder.received == []
    # A forged press changes nothing either.
    await press(bot, payloads.button_value("all"))
    replies = await bot.slack.wait_responses(2, "press")
    assert "turned off" in replies[-1]["text"]
    assert live_app.recorder.received == []
    assert [r["reason"] for r in stop_all_lines(logs, "denied")] == ["disabled", "disabled"]


async def test_allowlisted_person_not_on_the_stop_all_list_is_denied_without_a_call(
    start_bot: StartBot, live_app: FakeLiveApp
) -> None:
    live_app.go_live(3)
    bot = await start(start_bot, live_app, ALLOWED_STOP_ALL_USER_IDS=OTHER_ALLOWED)
    card = await confirmation(bot, ALLOWED)
    assert "not all at once" in card["text"] and not buttons(card)
    await press(bot, payloads.button_value("all"), ALLOWED)
    replies = await bot.slack.wait_responses(2, "press")
    assert "not all at once" in replies[-1]["text"]
    assert live_app.recorder.received == []
    assert len(live_app.live) == 3


async def test_the_stop_all_list_does_not_bypass_the_normal_allowlist(
    start_bot: StartBot, live_app: FakeLiveApp
) -> None:
    live_app.go_live(1)
    bot = await start(start_bot, live_app, ALLOWED_STOP_ALL_USER_IDS="U0ONLYSTOPALL")
    card = await confirmation(bot, "U0ONLYSTOPALL")
    assert "you are not allowed to stop livestreams" in card["text"]
    assert live_app.recorder.received == []


async def test_confirmation_lists_the_count_and_first_10_names_and_its_button_expires(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack
) -> None:
    live_app.go_live(12, name="Keynote <!channel>")
    live_app.shape = "list"  # the other documented shape of the list
    bot = await start(start_bot, live_app)
    card = await confirmation(bot)
    text = card["text"]
    assert card["response_type"] == "ephemeral"
    assert "12 livestreams are live now" in text
    newest = list(reversed(live_app.live))
    for meeting in newest[:10]:
        assert meeting in text
    for meeting in newest[10:]:
        assert meeting not in text
    assert "Keynote &lt;!channel&gt; 12" in text and "<!channel>" not in text
    assert "…and 2 more" in text
    [button] = buttons(card)
    assert button["action_id"] == CONFIRM and button["style"] == "danger"
    assert "12 livestreams" in button["confirm"]["text"]["text"]
    what, shown_at = button["value"].split("|")
    assert what == "all" and abs(int(shown_at) - time.time()) < 5

    before = len(live_app.recorder.received)
    await press(bot, f"all|{int(time.time()) - 301}")
    replies = await slack.wait_responses(2, "press")
    assert "expired" in replies[-1]["text"]
    assert len(live_app.recorder.received) == before  # not even the list was read
    assert len(live_app.live) == 12


async def test_two_presses_run_one_batch_and_the_second_gets_its_summary(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack, logs: LogWatch
) -> None:
    meetings = live_app.go_live(20)
    batches_before = {o: batches(o) for o in ("done", "already_running")}
    bot = await start(start_bot, live_app, ALLOWED_STOP_ALL_USER_IDS=f"{ALLOWED} {OTHER_ALLOWED}")
    [first] = buttons(await confirmation(bot, ALLOWED))
    [second] = buttons(await confirmation(bot, OTHER_ALLOWED))
    gate = live_app.gate_all = asyncio.Event()
    await press(bot, first["value"], ALLOWED, response="a")
    await live_app.recorder.wait_for(
        lambda _: bool(live_app.stop_calls)
    )  # the first batch is under way
    await press(bot, second["value"], OTHER_ALLOWED, response="b")
    told = await slack.wait_responses(2, "b")
    assert "already running" in told[-1]["text"]
    gate.set()
    [post] = await summary_posts(slack)
    assert "20 stopped" in post["text"]
    got = await slack.wait_responses(3, "b")
    assert "already running" in got[-1]["text"] and "20 stopped" in got[-1]["text"]
    assert got[-1]["response_type"] == "ephemeral"
    assert live_app.stopped == {m: 1 for m in meetings}
    assert not live_app.not_live_stops
    assert len(slack.calls("chat.postMessage")) == 1
    assert len(stop_all_lines(logs)) == 1
    [other] = stop_all_lines(logs, "already_running")
    assert other["user_id"] == OTHER_ALLOWED
    # The metric counts batches by how they ended.
    assert batches("done") == batches_before["done"] + 1
    assert batches("already_running") == batches_before["already_running"] + 1


async def test_a_meeting_already_being_stopped_by_a_single_command_shares_that_call(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack, logs: LogWatch
) -> None:
    first, *others = live_app.go_live(5)
    bot = await start(start_bot, live_app)
    [button] = buttons(await confirmation(bot))
    gate = live_app.gates[first] = asyncio.Event()
    await bot.command(first, response="single")
    await live_app.recorder.wait_for(lambda _: bool(live_app.stop_calls))
    await press(bot, button["value"])
    await logs.wait_for(lambda w: any("sharing that call" in line for line in w.lines()))
    gate.set()
    [post] = await summary_posts(slack)
    assert "5 stopped" in post["text"]
    assert len([r for r in live_app.stop_calls if first in r.path]) == 1
    assert live_app.stopped == {m: 1 for m in [first, *others]}
    [batch_line] = [
        r
        for r in logs.audit()
        if r["event"] == "stop" and r["door"] == "stop_all" and r["meeting_id"] == first
    ]
    assert batch_line["shared"] is True and batch_line["outcome"] == "stopped"


async def test_failures_are_listed_up_to_10_and_the_retry_button_works(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack, logs: LogWatch
) -> None:
    meetings = live_app.go_live(15)
    failing = meetings[:12]
    for n, meeting in enumerate(failing):
        live_app.failing[meeting] = (500, f"Internal error number {n}")
    bot = await start(start_bot, live_app)
    [button] = buttons(await confirmation(bot))
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    text = post["text"]
    assert "15 livestreams were live: 3 stopped, 0 had already ended, 12 failed" in text
    listed = [m for m in failing if m in text]
    assert len(listed) == 10
    assert "the API answered: Internal error number" in text and "(HTTP 500)" in text
    assert "…and 2 more failed" in text
    [retry] = buttons(post)
    assert retry["action_id"] == RETRY and retry["style"] == "danger"
    [total] = stop_all_lines(logs)
    assert retry["value"].split("|")[0] == total["batch_id"]

    # Mend them; one ends on its own meanwhile (it left the list: already ended).
    live_app.failing.clear()
    del live_app.live[failing[0]]
    await press(bot, retry["value"], response="retry", action_id=RETRY, ephemeral=False)
    [_, again] = await summary_posts(slack, 2)
    assert "12 livestreams were live: 11 stopped, 1 had already ended, 0 failed" in again["text"]
    assert live_app.stopped == {m: 1 for m in meetings[1:]}
    replies = await slack.wait_responses(2, "retry")
    assert all(r["replace_original"] is False for r in replies)  # the channel post stays
    [_, second] = stop_all_lines(logs)
    assert second["retry_of"] == total["batch_id"]

    # The retry button expires like every other.
    batch_id = total["batch_id"]
    await press(bot, f"{batch_id}|{int(time.time()) - 301}", response="late", action_id=RETRY)
    late = await slack.wait_responses(2, "late")
    assert "expired" in late[-1]["text"]


async def test_a_batch_counts_once_against_the_rate_limit(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack
) -> None:
    meetings = live_app.go_live(5)
    bot = await start(start_bot, live_app, RATE_LIMIT_PER_USER_PER_MINUTE="2")
    [button] = buttons(await confirmation(bot))
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    assert "5 stopped" in post["text"]
    await bot.command(meetings[0], response="second")  # the 2nd action of the minute
    second = await slack.wait_responses(2, "second")
    assert "limit of stops" not in second[-1]["text"]
    await bot.command(meetings[1], response="third")  # the 3rd is over the limit
    [third] = await slack.wait_responses(1, "third")
    assert "limit of stops per minute" in third["text"]


async def test_never_more_than_the_cap_in_flight(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack
) -> None:
    meetings = live_app.go_live(40)
    live_app.delay = 0.02
    bot = await start(start_bot, live_app, CLOUDFLARE_MAX_CONCURRENCY="4")
    [button] = buttons(await confirmation(bot))
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    assert "40 stopped" in post["text"]
    assert live_app.stopped == {m: 1 for m in meetings}
    assert live_app.peak == 4  # the cap was reached, never passed


async def test_every_call_is_paced_within_the_window(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "REQUESTS_PER_WINDOW", 10)
    monkeypatch.setattr(client, "WINDOW_SECONDS", 0.5)
    meetings = live_app.go_live(24)
    bot = await start(start_bot, live_app)
    [button] = buttons(await confirmation(bot))
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    assert "24 stopped" in post["text"]
    assert live_app.stopped == {m: 1 for m in meetings}
    times = live_app.times  # the confirmation's list read, the press's, 24 stops, a re-read
    assert len(times) == 27
    # Arrival can lag sending a little: check windows slightly shorter than the pacer's.
    assert max(sum(1 for t in times if s <= t < s + 0.45) for s in times) <= 10
    assert times[-1] - times[0] >= 1.0  # 27 calls at 10 per 0.5 s take two full windows


async def test_help_lists_stop_all(start_bot: StartBot, live_app: FakeLiveApp) -> None:
    bot = await start(start_bot, live_app)
    status, body = await bot.command("help")
    assert status == 200 and "/stop-livestream all" in body


async def test_an_unexpected_error_on_one_meeting_neither_cancels_the_batch_nor_hangs_a_second_press(
    start_bot: StartBot,
    live_app: FakeLiveApp,
    slack: FakeSlack,
    logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken, *others = live_app.go_live(6)
    bot = await start(start_bot, live_app, ALLOWED_STOP_ALL_USER_IDS=f"{ALLOWED} {OTHER_ALLOWED}")
    [first] = buttons(await confirmation(bot, ALLOWED))
    [second] = buttons(await confirmation(bot, OTHER_ALLOWED))
    real = StopService.stop_shared

    async def fails_once(self: StopService, meeting_id: MeetingId) -> Any:
        if meeting_id == broken:
            raise RuntimeError("a bug")  # a fault in the bot, not an API answer
        return await real(self, meeting_id)

    monkeypatch.setattr(StopService, "stop_shared", fails_once)
    gate = live_app.gate_all = asyncio.Event()
    await press(bot, first["value"], ALLOWED, response="a")
    await live_app.recorder.wait_for(lambda _: bool(live_app.stop_calls))
    await press(bot, second["value"], OTHER_ALLOWED, response="b")
    await slack.wait_responses(2, "b")  # told a batch is running; now waiting for it
    gate.set()
    [post] = await summary_posts(slack)
    assert "6 livestreams were live: 5 stopped, 0 had already ended, 1 failed" in post["text"]
    assert "unexpected error in the bot" in post["text"]
    assert live_app.stopped == {m: 1 for m in others}
    got = await slack.wait_responses(3, "b")  # the second presser gets the summary too
    assert "5 stopped" in got[-1]["text"]
    [line] = stop_all_lines(logs)
    assert (line["stopped"], line["failed"]) == (5, 1)
    [error] = [r for r in logs.audit() if r["event"] == "stop" and r["decision"] == "error"]
    assert error["meeting_id"] == broken


async def test_a_stream_missed_while_the_pages_shift_is_found_by_reading_the_list_again(
    start_bot: StartBot,
    live_app: FakeLiveApp,
    slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client, "LIST_PAGE_SIZE", 10)
    meetings = live_app.go_live(25)
    bot = await start(start_bot, live_app)
    [button] = buttons(await confirmation(bot))

    def stopped_elsewhere() -> None:  # once page 1 is read: the later pages shift by one
        live_app.after_first_page = None
        del live_app.live[meetings[19]]

    live_app.after_first_page = stopped_elsewhere
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    assert live_app.live == {}  # "Stream 15", skipped by the shift, was stopped too
    assert "25 livestreams were live: 24 stopped, 1 had already ended, 0 failed" in post["text"]
    assert not live_app.not_live_stops.keys() - {meetings[19]}


async def test_a_stream_still_live_after_the_last_read_is_named_in_the_summary(
    start_bot: StartBot, live_app: FakeLiveApp, slack: FakeSlack, logs: LogWatch
) -> None:
    live_app.go_live(2)
    bot = await start(start_bot, live_app)
    [button] = buttons(await confirmation(bot))
    latecomers: list[str] = []

    def another_goes_live() -> None:  # after every read of the list, a stream starts
        latecomers.extend(live_app.go_live(1, name="Latecomer"))

    live_app.after_first_page = another_goes_live
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    text = post["text"]
    rounds = stopping_all.ROUNDS
    assert f"{rounds + 2} livestreams were live: {rounds + 1} stopped" in text
    assert "1 failed" in text
    last_read = latecomers[rounds - 1]  # read by the last check, not stopped
    assert last_read in live_app.live and f"`{last_read}`" in text
    assert "still live" in text
    [retry] = buttons(post)  # the retry button offers to stop it
    assert retry["action_id"] == RETRY
    [line] = [r for r in logs.audit() if r["event"] == "stop" and r["meeting_id"] == last_read]
    assert line["outcome"] == "still_live" and line.get("api_status") is None


class ClockedState(MemoryState):
    """The bot's in-memory state on a clock the test moves; says when the slot is taken."""

    def __init__(self) -> None:
        self.now = 1000.0
        super().__init__(clock=lambda: self.now)
        self.claimed = asyncio.Event()

    async def begin_batch(self, batch_id: str, ttl: float) -> Any:
        answer = await super().begin_batch(batch_id, ttl)
        self.claimed.set()
        return answer


async def test_the_batch_slot_is_renewed_so_a_long_batch_keeps_it(
    start_bot: StartBot,
    live_app: FakeLiveApp,
    slack: FakeSlack,
    logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = ClockedState()

    async def open_clocked_state(*_: Any, **__: Any) -> MemoryState:
        return state

    monkeypatch.setattr(app, "open_state", open_clocked_state)
    monkeypatch.setattr(batch, "SLOT_RENEW_SECONDS", 0.01)
    meetings = live_app.go_live(3)
    bot = await start(start_bot, live_app, ALLOWED_STOP_ALL_USER_IDS=f"{ALLOWED} {OTHER_ALLOWED}")
    [first] = buttons(await confirmation(bot, ALLOWED))
    [second] = buttons(await confirmation(bot, OTHER_ALLOWED))
    gate = live_app.gate_all = asyncio.Event()
    await press(bot, first["value"], ALLOWED, response="a")
    await live_app.recorder.wait_for(lambda _: bool(live_app.stop_calls))  # the batch is under way
    for _ in range(3):  # three times the slot's life in all, renewed each time
        state.now += stopping_all.BATCH_LOCK_SECONDS * 0.9
        state.claimed.clear()
        await asyncio.wait_for(state.claimed.wait(), 5)
    await press(bot, second["value"], OTHER_ALLOWED, response="b")
    told = await slack.wait_responses(2, "b")
    assert "already running" in told[-1]["text"]
    gate.set()
    [post] = await summary_posts(slack)
    assert "3 stopped" in post["text"]
    assert live_app.stopped == {m: 1 for m in meetings}
    assert len(stop_all_lines(logs)) == 1  # one batch ran


async def test_past_the_deadline_the_meetings_left_are_not_tried_and_the_batch_ends(
    start_bot: StartBot,
    live_app: FakeLiveApp,
    slack: FakeSlack,
    logs: LogWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stopping_all, "BATCH_SECONDS", 1.0)
    monkeypatch.setattr(client, "REQUESTS_PER_WINDOW", 4)  # then nothing for an hour
    monkeypatch.setattr(client, "WINDOW_SECONDS", 3600.0)
    live_app.go_live(6)
    bot = await start(start_bot, live_app, CLOUDFLARE_MAX_CONCURRENCY="1")
    [button] = buttons(await confirmation(bot))  # the 1st call; the press's read the 2nd
    started = time.monotonic()
    await press(bot, button["value"])
    [post] = await summary_posts(slack)
    assert time.monotonic() - started < 5
    assert "6 livestreams were live: 2 stopped, 0 had already ended, 4 failed" in post["text"]
    assert post["text"].count("not tried") == 4
    assert len(live_app.live) == 4 and len(live_app.times) == 4
    [line] = stop_all_lines(logs)
    assert line["failed"] == 4
    outcomes = [r["outcome"] for r in logs.audit() if r["event"] == "stop"]
    assert sorted(outcomes) == ["not_tried"] * 4 + ["stopped"] * 2


# A summary as copies before the refactor wrote it: a rolling deploy must share it both ways.
OLDER_SUMMARY = (
    '{"batch_id":"b1","user_id":"U0ALLOWED","channel_id":"C0OPS","live":2,"stopped":1,'
    '"ended":0,"failed":[{"meeting_id":"9f2b5c1e-3d4a-4b6c-8e7f-0a1b2c3d4e5f","name":"Keynote",'
    '"result":"{\\"type\\":\\"ApiError\\",\\"status\\":500,\\"message\\":\\"Internal error\\",'
    '\\"code\\":null}"}],"finished":true,"retry_of":null,"list_failure":null,"duration_ms":12}'
)


def test_a_batch_summary_is_shared_with_older_and_newer_copies() -> None:
    summary = batch.BatchSummary.decode(OLDER_SUMMARY)
    assert summary is not None and summary.failed[0].result == ApiError(500, "Internal error")
    assert json.loads(summary.encode()) == json.loads(OLDER_SUMMARY)  # older copies read ours
    newer = json.dumps({**json.loads(OLDER_SUMMARY), "added_later": 1})
    assert batch.BatchSummary.decode(newer) == summary
    missing = json.dumps({k: v for k, v in json.loads(OLDER_SUMMARY).items() if k != "finished"})
    assert batch.BatchSummary.decode(missing) is None  # not a summary: never guessed
