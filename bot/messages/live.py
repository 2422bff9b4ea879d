"""How what is live reads in Slack: the list with its Stop buttons, the shortcut's
modal and its type-ahead options, and a workflow's search by name. Within Slack's
limits: 50 blocks a message, 3000 characters a section, 75 an option or button text."""

from __future__ import annotations

import datetime
from typing import Any

from bot.messages.outcomes import COMMAND, could_not_read, render, stop_button
from bot.messages.text import (
    BUTTON_TEXT_LIMIT,
    MESSAGE_TEXT_LIMIT,
    NAME_LIMIT,
    Reply,
    actions,
    escape_within,
    fit,
    plain,
    ref_block,
    section,
    text_reply,
)
from bot.service.admit import Denied, Invalid
from bot.service.live import PAGE_SIZE, Listed, ListFailed, ListOutcome, NoMatch
from bot.service.names import LiveRow

PAGE_ACTION_ID = "live_list_page"
PICK_ACTION_ID = "live_stream_pick"
CHANNEL_ACTION_ID = "announce_channel"
MODAL_CALLBACK_ID = "stop_livestream_modal"
STREAM_BLOCK_ID = "stream"
CHANNEL_BLOCK_ID = "channel"

OPTION_TEXT_LIMIT = 75
MODAL_TITLE_LIMIT = 24
MESSAGE_BLOCK_LIMIT = 50
UNNAMED = "Unnamed livestream"


def live_list(outcome: ListOutcome, now: float) -> Reply:
    """The private reply to `list`: one page of what is live, with Stop and Next buttons."""
    match outcome:
        case Denied() | Invalid():
            return render(outcome)
        case ListFailed(failure=failure, request_id=request_id):
            return text_reply(f":warning: {could_not_read(failure)}.", request_id)
        case Listed(total=0, request_id=request_id):
            return text_reply(
                ":white_circle: Nothing is live right now: the app has no livestream on air.",
                request_id,
            )
        case Listed() as listed:
            return _page(listed, now)


def _page(listed: Listed, now: float) -> Reply:
    total, offset, rows = listed.total, listed.offset, listed.rows
    heading = f":red_circle: *{total} livestream{'s' if total != 1 else ''} live*, newest first"
    if total > len(rows):
        heading += f" (showing {offset + 1} to {offset + len(rows)} of {total})"
    blocks: list[dict[str, Any]] = [section(heading)]
    lines = [heading]
    for row in rows:
        blocks.append(section(_row_text(row, now), stop_button(
            row.meeting_id, "Stop", now, row.names
        )))  # fmt: skip
        lines.append("• " + _row_line(row, now))
    left = total - offset - len(rows)
    if left > 0:
        more = min(PAGE_SIZE, left)
        next_page = {
            "type": "button",
            "action_id": PAGE_ACTION_ID,
            "text": plain(f"Next {more}", BUTTON_TEXT_LIMIT),
            "value": str(offset + len(rows)),
        }
        blocks.append(actions(next_page))
        lines.append(f"{left} more: press Next {more}.")
    blocks.append(ref_block(listed.request_id))
    assert len(blocks) <= MESSAGE_BLOCK_LIMIT
    text = fit("\n".join(lines), MESSAGE_TEXT_LIMIT) + f" (ref: {listed.request_id})"
    return Reply(text, blocks)


def _row_text(row: LiveRow, now: float) -> str:
    name = escape_within(row.stream.name or UNNAMED, NAME_LIMIT)
    meeting = f"Meeting `{row.meeting_id}`"
    if row.title:
        meeting = f"Meeting *{escape_within(row.title, NAME_LIMIT)}* · `{row.meeting_id}`"
    text = f"*{name}*\n{meeting}"
    live_for = duration(row.stream.created_at, now)
    if live_for is not None:
        text += f"\n:stopwatch: live for {live_for}"
    return text  # section() cuts it to Slack's limit


def _row_line(row: LiveRow, now: float) -> str:
    live_for = duration(row.stream.created_at, now)
    age = f", live for {live_for}" if live_for is not None else ""
    return f"{_name_title(row, 100)} ({row.meeting_id}){age}"


def _name_title(row: LiveRow, limit: int) -> str:
    """`Name — Title`, escaped, each part at most `limit` characters."""
    title = f" — {escape_within(row.title, limit)}" if row.title else ""
    return escape_within(row.stream.name or UNNAMED, limit) + title


def duration(created_at: str | None, now: float) -> str | None:
    """How long ago `created_at` (ISO 8601) was: "45 s", "12 min", "2 h 05 min", "3 d 4 h"."""
    if not created_at:
        return None
    try:
        started = datetime.datetime.fromisoformat(created_at)
    except ValueError:
        return None
    if started.tzinfo is None:
        started = started.replace(tzinfo=datetime.UTC)
    seconds = max(0, int(now - started.timestamp()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


# ------------------------------------------------------------------ the shortcut


def picker_modal() -> dict[str, Any]:
    """The shortcut's modal: a type-ahead of what is live, and where to announce it."""
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK_ID,
        "title": plain("Stop a livestream", MODAL_TITLE_LIMIT),
        "submit": plain("Stop livestream", MODAL_TITLE_LIMIT),
        "close": plain("Cancel", MODAL_TITLE_LIMIT),
        "blocks": [
            {
                "type": "input",
                "block_id": STREAM_BLOCK_ID,
                "label": plain("Livestream", 2000),
                "hint": plain("Type part of its name, its meeting's title or meeting ID.", 2000),
                "element": {
                    "type": "external_select",
                    "action_id": PICK_ACTION_ID,
                    "placeholder": plain("Search what is live", 150),
                    "min_query_length": 0,
                },
            },
            {
                "type": "input",
                "block_id": CHANNEL_BLOCK_ID,
                "label": plain("Announce the outcome in", 2000),
                "element": {
                    "type": "conversations_select",
                    "action_id": CHANNEL_ACTION_ID,
                    "placeholder": plain("Pick a channel", 150),
                    "default_to_current_conversation": True,
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            },
        ],
    }


def picker_options(rows: list[LiveRow]) -> list[dict[str, Any]]:
    """Type-ahead options, by name and title, valued by meeting ID (plain text: no escaping)."""
    return [
        {
            "text": plain(
                (row.stream.name or UNNAMED) + (f" — {row.title}" if row.title else ""),
                OPTION_TEXT_LIMIT,
            ),
            "description": plain(f"meeting {row.meeting_id}", OPTION_TEXT_LIMIT),
            "value": row.meeting_id,
        }
        for row in rows
    ]


def modal_errors(refusal: Denied | Invalid) -> dict[str, str]:
    """Why the modal's submission was refused, keyed by the block it is about."""
    match refusal:
        case Denied(denial=denial, user_id=user_id):
            match denial.reason:
                case "not_allowed":
                    return {
                        STREAM_BLOCK_ID: "You are not allowed to stop livestreams. Ask the "
                        f"bot's admin to add your user ID {fit(user_id, 40)} to the allowlist."
                    }
                case "channel_not_allowed":
                    return {
                        CHANNEL_BLOCK_ID: "The bot does not stop livestreams from this "
                        "channel: pick one it is set up for."
                    }
                case "membership_unknown":
                    return {
                        STREAM_BLOCK_ID: "Could not check whether you are in an allowed "
                        "user group, so nothing was stopped. Try again in a moment."
                    }
                case _:
                    return {STREAM_BLOCK_ID: "You cannot stop a livestream right now."}
        case Invalid(problem="not_a_meeting_id"):
            return {STREAM_BLOCK_ID: "Pick a livestream from the list."}
        case Invalid():
            return {STREAM_BLOCK_ID: "This request is malformed, so nothing was stopped."}


def access_unchecked() -> dict[str, str]:
    """For a submission whose access check did not finish in time."""
    return {STREAM_BLOCK_ID: "Could not check your access in time. Try again in a moment."}


def cannot_post() -> dict[str, str]:
    """For a channel the bot cannot post in (private without it, or archived)."""
    return {
        CHANNEL_BLOCK_ID: "The bot cannot post in this channel: invite it there "
        "(/invite @Stop Livestream), or pick another channel."
    }


# ------------------------------------------------------------------ workflow by name


def no_match(outcome: NoMatch) -> str:
    """Why a workflow step found no single livestream by that name, with the candidates."""
    name = escape_within(outcome.name.strip(), 100)
    if outcome.several:
        said = f"{outcome.total} live livestreams are called “{name}”, so nothing was stopped"
    elif outcome.total:
        said = f"No live livestream or meeting is called “{name}”, so nothing was stopped"
    else:
        return f"No live livestream or meeting is called “{name}”: nothing is live right now."
    shown = "; ".join(
        f"{_name_title(row, 80)} (meeting {row.meeting_id})" for row in outcome.candidates
    )
    more = outcome.total - len(outcome.candidates)
    rest = f"; and {more} more" if more > 0 else ""
    which = "They are" if outcome.several else "Live now"
    if outcome.unread:
        plural = "s" if outcome.unread != 1 else ""
        said += f" (the titles of {outcome.unread} meeting{plural} are still being read: try again soon)"
    return f"{said}. {which}: {shown}{rest}. Give the meeting ID instead, or use `{COMMAND} list`."


def list_failed(outcome: ListFailed) -> str:
    """Why the list could not be read, for a workflow step."""
    return f"{could_not_read(outcome.failure)} (ref: {outcome.request_id})."
