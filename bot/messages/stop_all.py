"""How `/stop-livestream all` reads in Slack: the confirmation, progress, the summary."""

from __future__ import annotations

from bot.messages.outcomes import COMMAND, could_not_read, render
from bot.messages.text import (
    Reply,
    actions,
    danger_button,
    describe_failure,
    escape,
    mention,
    text_reply,
)
from bot.realtimekit import LiveStream, NoActiveLivestream, ReadFailure, Stopped
from bot.service.batch import AlreadyRunning, BatchSummary, Confirmation, StopAllRefused
from bot.service.live import ListFailed

CONFIRM_ACTION_ID = "stop_all_livestreams"
RETRY_ACTION_ID = "stop_all_retry"
LISTED = 10  # streams named in the confirmation, failures in the summary


def confirmation(shown: Confirmation) -> Reply:
    """The private confirmation: the count, the first LISTED names, a red button."""
    count = len(shown.streams)
    if count == 0:
        return text_reply(":white_check_mark: Nothing is live right now: no livestream to stop.")
    lines = [f":rotating_light: *{_streams(count)} live now.*"]
    lines += [_stream_line(s) for s in shown.streams[:LISTED]]
    if count > LISTED:
        lines.append(f"…and {count - LISTED} more.")
    lines.append(
        "Pressing the button stops every livestream that is live at that moment (the list "
        "is read again). It expires in 5 minutes."
    )
    reply = text_reply("\n".join(lines), shown.request_id)
    button = danger_button(
        CONFIRM_ACTION_ID,
        f"Stop all {count} livestreams",
        f"all|{int(shown.shown_at)}",
        "Stop every livestream?",
        f"This stops all {_streams(count)} live now (and any that started since), for "
        "their whole audiences.",
        "Stop them all",
    )
    reply.blocks.insert(-1, actions(button))
    return reply


def refused(refusal: StopAllRefused) -> Reply:
    """Why the person may not stop everything, and what would change that."""
    return render(refusal.refusal)


def list_failed(failed: ListFailed) -> Reply:
    """The live list could not be read, so nothing can be confirmed."""
    return _unread(failed.failure, failed.request_id)


def reading() -> Reply:
    """Replaces the confirmation as soon as it is pressed."""
    return text_reply(":hourglass_flowing_sand: Stopping every livestream: reading what is live…")


def retrying() -> Reply:
    """Said privately as soon as the retry button is pressed."""
    return text_reply(
        ":hourglass_flowing_sand: Trying the failed ones again: reading what is live…"
    )


def progress(done: int, total: int) -> Reply:
    """Progress, privately: stopped X of N."""
    return text_reply(
        f":hourglass_flowing_sand: Stopping every livestream: {done} of {total} done…"
    )


def summary(done: BatchSummary, shown_at: float) -> Reply:
    """The channel's one post: who, the totals, the first LISTED failures, a retry button."""
    what = "the failed livestreams again" if done.retry_of else "every livestream"
    lines = [f":octagonal_sign: {mention(done.user_id)} stopped {what}. {_totals(done)}"]
    if done.list_failure is not None:
        lines = [
            f":warning: {mention(done.user_id)} tried to stop {what}, but the live list "
            f"could not be read: {describe_failure(done.list_failure)}. Nothing was stopped."
        ]
    for failed in done.failed[:LISTED]:
        assert not isinstance(failed.result, Stopped | NoActiveLivestream)
        name = f" ({escape(failed.name, 80)})" if failed.name else ""
        lines.append(f"• `{failed.meeting_id}`{name}: {describe_failure(failed.result)}")
    if len(done.failed) > LISTED:
        lines.append(f"…and {len(done.failed) - LISTED} more failed.")
    reply = text_reply("\n".join(lines), done.batch_id, public=True)
    if done.failed:
        count = len(done.failed)
        button = danger_button(
            RETRY_ACTION_ID,
            "Try the failed ones again",
            f"{done.batch_id}|{int(shown_at)}",
            "Try the failed ones again?",
            f"This tries again to stop the {_streams(count, 'that')} failed, if still live.",
            "Try again",
        )
        reply.blocks.insert(-1, actions(button))
    return reply


def finished(done: BatchSummary, in_channel: bool) -> Reply:
    """The person's last private line."""
    if done.list_failure is not None:
        return _unread(done.list_failure, done.batch_id)
    where = " The summary is in the channel." if in_channel else ""
    return text_reply(f":white_check_mark: Done. {_totals(done)}{where}", done.batch_id)


def already_running(running: AlreadyRunning | None) -> Reply:
    """For a press while a batch runs: told at once, then (`running` given) its summary."""
    if running is None:
        return text_reply(
            ":hourglass_flowing_sand: A stop of every livestream is already running; "
            "nothing more was started. Its summary follows here when it ends."
        )
    done = running.summary
    if done is None:
        return text_reply(
            ":warning: A stop of every livestream was already running, so nothing more was "
            "started; its summary is not available. Check the channel, or run "
            f"`{COMMAND} all` again.",
            running.batch_id,
        )
    text = summary(done, 0).text
    return text_reply(
        f"A stop of every livestream was already running, so nothing more was started. "
        f"Its summary:\n{text}",
        public=False,
    )


def _unread(failure: ReadFailure, ref: str) -> Reply:
    return text_reply(f":warning: {could_not_read(failure)}. Nothing was stopped.", ref)


def _totals(done: BatchSummary) -> str:
    return (
        f"{_streams(done.live, 'were')} live: {done.stopped} stopped, "
        f"{done.ended} had already ended, {len(done.failed)} failed."
    )


def _streams(count: int, verb: str = "are") -> str:
    """`1 livestream is`, `3 livestreams are`, for `verb` in are/were/that."""
    singular = {"are": "is", "were": "was", "that": "that"}[verb]
    return f"{count} livestream {singular}" if count == 1 else f"{count} livestreams {verb}"


def _stream_line(stream: LiveStream) -> str:
    name = escape(stream.name, 80) if stream.name else "_(no name)_"
    return f"• {name} (`{stream.meeting_id}`)"
