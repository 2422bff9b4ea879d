"""How one stop's outcome reads (stopped, failed, refused, pressed twice), its button, help."""

from __future__ import annotations

import time
from typing import Any

from bot.messages.text import (
    CONFIRM_NAME_LIMIT,
    NAME_LIMIT,
    Reply,
    actions,
    danger_button,
    describe_failure,
    describe_lost,
    escape,
    escape_within,
    mention,
    quote_input,
    seconds_text,
    text_reply,
)
from bot.realtimekit import NoActiveLivestream, ReadFailure, Stopped
from bot.service.admit import Denied, Invalid
from bot.service.names import Names
from bot.service.stop import AlreadyPressed, Attempted

COMMAND = "/stop-livestream"
ACTION_ID = "stop_livestream"
EXAMPLE_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
_MEETING_ID_ARG = "&lt;meeting-id&gt;"  # escaped: raw, Slack would read <...> as a link

USAGE = (
    "*Usage:*\n"
    f"• `{COMMAND}` or `{COMMAND} list` shows you what is live, newest first, each with "
    "a Stop button.\n"
    f"• `{COMMAND} {_MEETING_ID_ARG}` stops the active livestream of that meeting "
    "and tells the channel.\n"
    f"• `{COMMAND} status {_MEETING_ID_ARG}` shows, to you only, whether the meeting is live, "
    "with a button to stop it.\n"
    f"• `{COMMAND} all` stops every live livestream at once, after a private confirmation "
    "(only for people on the stop-all list).\n"
    f"• `{COMMAND} help` shows this message.\n"
    "The shortcut *Stop a livestream* lets you pick one by name.\n"
    f"The meeting ID is a UUID, for example `{COMMAND} {EXAMPLE_ID}`."
)

_MALFORMED = {
    "malformed_user": "The request's user ID is malformed",
    "malformed_channel": "The request's channel ID is malformed",
    "malformed_button": (
        "This button is malformed or from an older version of the bot (it carries no "
        "time it was shown)"
    ),
}


def the_livestream(meeting_id: str, names: Names | None, limit: int = NAME_LIMIT) -> str:
    """`the livestream *Name* of meeting *Title* (id)`, with as much as is known."""
    stream = ""
    if names is not None and names.stream_name:
        stream = f" *{escape_within(names.stream_name, limit)}*"
    meeting = f"meeting `{meeting_id}`"
    if names is not None and names.title:
        meeting = f"meeting *{escape_within(names.title, limit)}* (`{meeting_id}`)"
    return f"the livestream{stream} of {meeting}"


def invalid_reason(text: str) -> str:
    """Why `text` is not one meeting ID, as specifically as we can say."""
    words = text.split()
    if not words:
        return "No meeting ID given."
    if len(words) > 1:
        return f"Expected exactly one meeting ID, got {len(words)} words: {quote_input(text)}."
    return f"{quote_input(words[0])} is not a meeting ID: a meeting ID is a UUID."


def could_not_read(failure: ReadFailure) -> str:
    """The live list could not be read, and why."""
    return f"Could not read what is live: {describe_failure(failure)}"


def denial_text(denied: Denied) -> str:
    """Why the person was turned away, and what they can do (no meeting ID: a stop-all)."""
    denial = denied.denial
    match denial.reason:
        case "not_allowed":
            return (
                f":no_entry: {mention(denied.user_id)}, you are not allowed to stop livestreams. "
                f"Ask the bot's admin to add your user ID {quote_input(denied.user_id, 40)} "
                "to the allowlist."
            )
        case "channel_not_allowed":
            return (
                ":no_entry: This bot does not stop livestreams from this channel. "
                "Use it in one of the channels it is set up for."
            )
        case "membership_unknown":
            return (
                ":no_entry: Could not check whether you are in an allowed user group "
                f"({escape(denial.detail)}), so nothing was stopped. Try again in a moment, "
                "or ask the bot's admin."
            )
        case "rate_limited":
            return (
                ":hourglass: You have reached the limit of stops per minute; nothing was stopped. "
                f"Try again in {seconds_text(denial.retry_after or 0)}."
            )
        case "expired":
            again = f"Run `{COMMAND} all` again."
            if denied.meeting_id:
                again = f"Check the livestream again with `{COMMAND} status {denied.meeting_id}`."
            return (
                ":alarm_clock: This button expired: it was shown more than 5 minutes ago, "
                f"so nothing was stopped. {again}"
            )
        case "disabled":
            return (
                ":no_entry: Stopping every livestream at once is turned off: nobody may do it. "
                "To turn it on, the bot's admin sets `ALLOWED_STOP_ALL_USER_IDS` (Slack user "
                "IDs) or `ALLOWED_STOP_ALL_USERGROUP_IDS` (user group IDs) and restarts or "
                "reloads the bot."
            )
        case "not_on_stop_all_list":
            return (
                f":no_entry: {mention(denied.user_id)}, you may stop livestreams one at a "
                "time, but not all at once. Ask the bot's admin to add your user ID to "
                "`ALLOWED_STOP_ALL_USER_IDS`."
            )
        case "summary_gone":
            return (
                ":x: That stop-all is no longer known (its summary is kept for an hour), so "
                f"nothing was stopped. Run `{COMMAND} all` again."
            )


def already_pressed(again: AlreadyPressed) -> str:
    """What the first press of this button did, for whoever presses it again."""
    by, ago = mention(again.by), f"{max(0, round(time.time() - again.at))} s ago"
    match again.result:
        case None:
            what = f"{by} pressed this button {ago}, and that stop has not finished"
        case Stopped():
            what = f"{by} already stopped this livestream with this button {ago}"
        case NoActiveLivestream():
            what = f"{by} pressed this button {ago}: there was nothing to stop"
        case failure:
            what = f"{by} pressed this button {ago}, and it failed: {describe_failure(failure)}"
    return (
        f":information_source: {what}. Nothing was done again; check the livestream with "
        f"`{COMMAND} status {again.meeting_id}`."
    )


def render(
    outcome: Invalid | Denied | Attempted | AlreadyPressed, names: Names | None = None
) -> Reply:
    """The reply for an outcome; `names` (when read in time) name the livestream."""
    match outcome:
        case Invalid(text=text, request_id=request_id, problem="not_a_meeting_id"):
            return text_reply(f":x: {invalid_reason(text)}\n{USAGE}", request_id)
        case Invalid(request_id=request_id, problem=problem):
            return text_reply(f":x: {_MALFORMED[problem]}, so nothing was stopped.", request_id)
        case Denied() as denied:
            return text_reply(denial_text(denied), denied.request_id)
        case AlreadyPressed() as again:
            return text_reply(already_pressed(again), again.request_id)
        case Attempted(result=Stopped(message=message, recovered_from=lost)) as done:
            said = f" Cloudflare says: {escape(message)}" if message else ""
            if lost is not None:
                said = (
                    f" Cloudflare's first answer was lost ({describe_lost(lost)}); "
                    "a check shows the livestream is no longer live."
                )
            return text_reply(
                f":octagonal_sign: {mention(done.user_id)} stopped "
                f"{the_livestream(done.meeting_id, names)}.{said}",
                public=True,
            )
        case Attempted(result=NoActiveLivestream(message=message)) as done:
            said = f" Cloudflare says: {escape(message)}" if message else ""
            return text_reply(
                f":information_source: {mention(done.user_id)} asked to stop "
                f"{the_livestream(done.meeting_id, names)}: nothing to stop, the meeting has "
                f"no active livestream; it may have ended or been stopped already.{said}",
                public=True,
            )
        case Attempted() as failed:
            assert not isinstance(failed.result, Stopped | NoActiveLivestream)
            reply = text_reply(
                f":warning: {mention(failed.user_id)} tried to stop "
                f"{the_livestream(failed.meeting_id, names)}, but it failed: "
                f"{describe_failure(failed.result)}.",
                failed.request_id,
                public=True,
            )
            reply.blocks.append(
                actions(stop_button(failed.meeting_id, "Try again", time.time(), names))
            )
            return reply


def stop_button(
    meeting_id: str, label: str, shown_at: float, names: Names | None = None
) -> dict[str, Any]:
    """A red button that stops `meeting_id`, confirming what it stops; its value carries
    when it was shown, so it expires (BUTTON_LIFETIME_SECONDS)."""
    what = the_livestream(meeting_id, names, CONFIRM_NAME_LIMIT)
    return danger_button(
        ACTION_ID,
        label,
        f"{meeting_id}|{int(shown_at)}",
        "Stop the livestream?",
        f"This stops {what} for its whole audience.",
        "Stop it",
    )


def interrupted() -> Reply:
    """For work cut off by a shutdown: what is (not) known, and what to do."""
    return text_reply(
        ":warning: The bot restarted before Cloudflare answered, so it is not known whether "
        f"the livestream stopped. Check it with `{COMMAND} status {_MEETING_ID_ARG}`."
    )


def pressed(meeting_text: str) -> Reply:
    """What replaces a private card as soon as its button is pressed."""
    return text_reply(
        f":hourglass_flowing_sand: Stopping the livestream of meeting {quote_input(meeting_text)}…"
    )


def no_user_context(request_id: str) -> Reply:
    """For a workflow step run without the person who ran it."""
    return text_reply(
        ":x: This step needs to know who ran the workflow (its user_context input), and "
        "Slack sent none, so nothing was stopped. Start the workflow from a person's action "
        "(a link trigger, or a button in an earlier step).",
        request_id,
    )


def something_went_wrong(ref: str) -> Reply:
    """For an unexpected error: no details, only a reference for the logs."""
    return text_reply(f":boom: Something went wrong (ref: {ref}). Nothing more is known yet.")


def stopping(meeting_id: str) -> Reply:
    """The private note shown while the API call is under way (the words of `pressed`)."""
    return pressed(meeting_id)


def usage() -> Reply:
    """Help, for the caller only."""
    return text_reply(USAGE)
