"""The replies every door shares: stops, denials, help, and the pieces every view uses."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.finding import Names
from bot.realtimekit import (
    ApiError,
    Lost,
    NoActiveLivestream,
    NotSent,
    RateLimited,
    StopFailure,
    Stopped,
    TimedOut,
    Unconfirmed,
    UnexpectedResponse,
    Unreachable,
)
from bot.slack_ids import is_user_id
from bot.stopping import AlreadyPressed, Attempted, Denied, Invalid

# Slack's limits (Block Kit reference): longer texts are rejected, so we shorten them.
SECTION_TEXT_LIMIT = 3000
CONTEXT_TEXT_LIMIT = 2000
BUTTON_TEXT_LIMIT = 75
CONFIRM_TITLE_LIMIT = 100
CONFIRM_TEXT_LIMIT = 300
MESSAGE_TEXT_LIMIT = 4000  # the notification fallback; Slack truncates past 40,000
QUOTED_LIMIT = 500  # outside text (API messages, names) inside one of our sentences
NAME_LIMIT = 200  # a livestream's name or a meeting's title, escaped, in a post
CONFIRM_NAME_LIMIT = 80  # the same inside a confirm dialog (CONFIRM_TEXT_LIMIT in all)

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

_UNREACHABLE = {
    "refused": "could not reach the Cloudflare API (connection refused)",
    "dns": "could not reach the Cloudflare API (its host name did not resolve)",
    "connect_timeout": "could not reach the Cloudflare API (connecting timed out)",
    "reset": (
        "the connection to the Cloudflare API broke before it answered; "
        "the livestream may or may not have stopped"
    ),
    "network": "could not reach the Cloudflare API (network error)",
}


@dataclass(frozen=True)
class Reply:
    """A Slack message: `text` is the notification fallback, `blocks` the layout."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    public: bool = False


def escape(text: str, limit: int = QUOTED_LIMIT) -> str:
    """Make outside text inert in mrkdwn (no mentions, links or broadcasts), shortened
    to `limit` characters first."""
    return fit(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_within(text: str, limit: int) -> str:
    """escape(text), shortened so that the escaped text itself is at most `limit`
    characters (escaping can make a text up to five times longer)."""
    keep = limit
    while True:
        escaped = escape(text, keep)
        if len(escaped) <= limit or keep <= 1:
            return escaped
        keep = max(1, min(keep - 1, keep * limit // len(escaped)))


def the_livestream(meeting_id: str, names: Names | None, limit: int = NAME_LIMIT) -> str:
    """The words for the livestream: `the livestream *Name* of meeting *Title* (id)`,
    with as much as is known."""
    stream = ""
    if names is not None and names.stream_name:
        stream = f" *{escape_within(names.stream_name, limit)}*"
    meeting = f"meeting `{meeting_id}`"
    if names is not None and names.title:
        meeting = f"meeting *{escape_within(names.title, limit)}* (`{meeting_id}`)"
    return f"the livestream{stream} of {meeting}"


def fit(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(user_id: str) -> str:
    """`<@U…>` for a well-formed user ID; anything else is shown inert, never as markup."""
    return f"<@{user_id}>" if is_user_id(user_id) else quote_input(user_id, 40)


def quote_input(text: str, limit: int = 80) -> str:
    """Show what a person typed, shortened and made inert, inside code markup."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + escape(shown).replace("`", "'") + "`"


def describe_failure(failure: StopFailure) -> str:
    """What went wrong, in words, with the API's own message when there is one."""
    match failure:
        case ApiError(status=0, message=message):  # not the API's: the bot's own error
            return escape(message)
        case ApiError(status=404, message=message):
            return (
                f"the API answered: {escape(message)} (HTTP 404); it did not say the meeting "
                "has no active livestream, so check the meeting ID and the bot's app ID"
            )
        case ApiError(status=status, message=message):
            return f"the API answered: {escape(message)} (HTTP {status})"
        case RateLimited(retry_after=seconds, sent=False):
            return (
                "not sent: the bot is holding calls to Cloudflare back (its API budget is used "
                "up, or Cloudflare asked it to pause), so nothing was changed; retry in "
                f"{_seconds(seconds or 60)}"
            )
        case RateLimited(retry_after=seconds):
            if seconds is None:
                return "rate limited by Cloudflare; wait a minute before retrying"
            return f"rate limited by Cloudflare; retry in {_seconds(seconds)}"
        case TimedOut(seconds=seconds):
            return (
                f"timed out after {_seconds(seconds)} waiting for the API; "
                "the livestream may or may not have stopped"
            )
        case Unreachable(reason=reason):
            return _UNREACHABLE[reason]
        case UnexpectedResponse(status=status, too_large=True):
            return f"unexpected response from the API (HTTP {status}, body over 1 MB)"
        case UnexpectedResponse(status=status):
            return f"unexpected response from the API (HTTP {status})"
        case NotSent():
            return "not sent, as the bot is restarting, so nothing was changed: try again"
        case Unconfirmed(lost=lost, check=NotSent()):
            return (
                f"Cloudflare's answer was lost ({describe_lost(lost)}) and the bot is "
                "restarting, so it could not check the livestream: it may or may not have stopped"
            )
        case Unconfirmed(lost=lost, check=check):
            return (
                f"Cloudflare's answer was lost ({describe_lost(lost)}) and checking the "
                f"livestream failed too ({describe_failure(check)}), so it may or may not "
                "have stopped"
            )


def describe_lost(lost: Lost) -> str:
    """How an answer to a stop went missing, briefly."""
    match lost:
        case TimedOut(seconds=seconds):
            return f"timed out after {_seconds(seconds)}"
        case Unreachable():
            return "the connection broke"
        case UnexpectedResponse(status=status) | ApiError(status=status):
            return f"HTTP {status} from Cloudflare's edge"


def _seconds(value: float) -> str:
    return f"{value:.2g} s" if value < 10 else f"{round(value)} s"


def invalid_reason(text: str) -> str:
    """Why `text` is not one meeting ID, as specifically as we can say."""
    words = text.split()
    if not words:
        return "No meeting ID given."
    if len(words) > 1:
        return f"Expected exactly one meeting ID, got {len(words)} words: {quote_input(text)}."
    return f"{quote_input(words[0])} is not a meeting ID: a meeting ID is a UUID."


def denial_text(denied: Denied) -> str:
    """Why the person was turned away, and what they can do."""
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
                f"Try again in {_seconds(denial.retry_after or 0)}."
            )
        case "expired":
            return (
                ":alarm_clock: This button expired: it was shown more than 5 minutes ago, "
                "so nothing was stopped. Check the livestream again with "
                f"`{COMMAND} status {denied.meeting_id}`."
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


_MALFORMED = {
    "malformed_user": "The request's user ID is malformed",
    "malformed_channel": "The request's channel ID is malformed",
    "malformed_button": (
        "This button is malformed or from an older version of the bot (it carries no "
        "time it was shown)"
    ),
}


def render(
    outcome: Invalid | Denied | Attempted | AlreadyPressed, names: Names | None = None
) -> Reply:
    """The reply for an outcome; public replies go to the channel. `names` (when read in
    time) name the livestream and its meeting."""
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
            button = stop_button(failed.meeting_id, "Try again", time.time(), names)
            reply.blocks.append({"type": "actions", "elements": [button]})
            return reply


def stop_button(
    meeting_id: str, label: str, shown_at: float, names: Names | None = None
) -> dict[str, Any]:
    """A danger button that stops `meeting_id`, behind a confirm dialog naming it (and
    its livestream and title, when `names` has them). Its value carries when it was
    shown, so it expires (BUTTON_LIFETIME_SECONDS)."""
    what = the_livestream(meeting_id, names, CONFIRM_NAME_LIMIT)
    return {
        "type": "button",
        "action_id": ACTION_ID,
        "text": {"type": "plain_text", "text": fit(label, BUTTON_TEXT_LIMIT)},
        "style": "danger",
        "value": f"{meeting_id}|{int(shown_at)}",
        "confirm": {
            "title": {"type": "plain_text", "text": "Stop the livestream?"},
            "text": {
                "type": "mrkdwn",
                "text": fit(
                    f"This stops {what} for its whole audience.",
                    CONFIRM_TEXT_LIMIT,
                ),
            },
            "confirm": {"type": "plain_text", "text": "Stop it"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        },
    }


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
    """The private note shown while the API call is under way."""
    return text_reply(
        f":hourglass_flowing_sand: Stopping the livestream of meeting `{meeting_id}`…"
    )


def usage() -> Reply:
    """Help, for the caller only."""
    return text_reply(USAGE)


def text_reply(text: str, request_id: str | None = None, *, public: bool = False) -> Reply:
    """A reply of one section (cut to Slack's limits) and, with `request_id`, its ref."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT_LIMIT)}}
    ]
    text = fit(text, MESSAGE_TEXT_LIMIT)
    if request_id is not None:
        text = f"{text} (ref: {request_id})"
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"ref: `{request_id}`"}]}
        )
    return Reply(text=text, blocks=blocks, public=public)


__all__ = [
    "ACTION_ID",
    "BUTTON_TEXT_LIMIT",
    "COMMAND",
    "CONFIRM_TEXT_LIMIT",
    "CONFIRM_TITLE_LIMIT",
    "CONTEXT_TEXT_LIMIT",
    "EXAMPLE_ID",
    "MESSAGE_TEXT_LIMIT",
    "NAME_LIMIT",
    "QUOTED_LIMIT",
    "SECTION_TEXT_LIMIT",
    "USAGE",
    "Reply",
    "denial_text",
    "describe_failure",
    "describe_lost",
    "escape",
    "escape_within",
    "fit",
    "interrupted",
    "invalid_reason",
    "mention",
    "no_user_context",
    "pressed",
    "quote_input",
    "render",
    "something_went_wrong",
    "stop_button",
    "stopping",
    "text_reply",
    "the_livestream",
    "usage",
]
