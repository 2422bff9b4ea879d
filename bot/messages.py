"""How an Outcome reads in Slack: plain text plus Block Kit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.realtimekit import (
    ApiError,
    Livestream,
    NoActiveLivestream,
    RateLimited,
    StopFailure,
    Stopped,
    TimedOut,
    UnexpectedResponse,
    Unreachable,
)
from bot.stopping import Attempted, Denied, Invalid, Looked

COMMAND = "/stop-livestream"
ACTION_ID = "stop_livestream"
EXAMPLE_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

USAGE = (
    "*Usage:*\n"
    f"• `{COMMAND} <meeting-id>` stops the active livestream of that meeting "
    "and tells the channel.\n"
    f"• `{COMMAND} status <meeting-id>` shows, to you only, whether the meeting is live, "
    "with a button to stop it.\n"
    f"• `{COMMAND} help` shows this message.\n"
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


def escape(text: str) -> str:
    """Make outside text inert in mrkdwn: no mentions, links or broadcasts."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_input(text: str, limit: int = 80) -> str:
    """Show what a person typed, shortened and made inert, inside code markup."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + escape(shown).replace("`", "'") + "`"


def describe_failure(failure: StopFailure) -> str:
    """What went wrong, in words, with the API's own message when there is one."""
    match failure:
        case ApiError(status=status, message=message):
            return f"the API answered: {escape(message)} (HTTP {status})"
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
                f":no_entry: <@{denied.user_id}>, you are not allowed to stop livestreams. "
                f"Ask the bot's admin to add your user ID `{denied.user_id}` to the allowlist."
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


def render(outcome: Invalid | Denied | Attempted) -> Reply:
    """The reply for an outcome; public replies go to the channel."""
    match outcome:
        case Invalid(text=text, request_id=request_id):
            return _reply(f":x: {invalid_reason(text)}\n{USAGE}", request_id)
        case Denied() as denied:
            return _reply(denial_text(denied), denied.request_id)
        case Attempted(result=Stopped(message=message)) as done:
            said = f" Cloudflare says: {escape(message)}" if message else ""
            return _reply(
                f":octagonal_sign: <@{done.user_id}> stopped the livestream of meeting "
                f"`{done.meeting_id}`.{said}",
                public=True,
            )
        case Attempted() as failed:
            assert not isinstance(failed.result, Stopped)
            reply = _reply(
                f":warning: <@{failed.user_id}> tried to stop the livestream of meeting "
                f"`{failed.meeting_id}`, but it failed: {describe_failure(failed.result)}.",
                failed.request_id,
                public=True,
            )
            reply.blocks.append(
                {"type": "actions", "elements": [stop_button(failed.meeting_id, "Try again")]}
            )
            return reply


_STATUS_ICONS = {
    "LIVE": ":red_circle:",
    "IDLE": ":white_circle:",
    "ERRORED": ":x:",
    "INVOKED": ":hourglass:",
}


def status_card(
    looked: Looked | Invalid | Denied, issued_at: float, asked_to_stop: bool = False
) -> Reply:
    """The private card for `status`: what is on air, and a Stop button while it is LIVE.

    `asked_to_stop` is the confirmation step of REQUIRE_CONFIRMATION: the person asked to
    stop, and the card asks them to confirm with the button."""
    if not isinstance(looked, Looked):
        return render(looked)
    meeting_id = looked.meeting_id
    button_value = f"{meeting_id}|{int(issued_at)}"
    heading = f"*Livestream of meeting `{meeting_id}`*"
    lines: list[str] = []
    match looked.result:
        case Livestream() as stream:
            icon = _STATUS_ICONS.get(stream.status, ":grey_question:")
            lines.append(f"{heading}\n{icon} *{escape(stream.status)}*")
            if stream.name:
                lines.append(f"*Name:* {escape(stream.name)}")
            if stream.created_at:
                lines.append(f"*Started:* {escape(stream.created_at)}")
            if stream.updated_at:
                lines.append(f"*Last updated:* {escape(stream.updated_at)}")
            if stream.playback_url:
                lines.append(f"*Playback:* {escape(stream.playback_url)}")
            live = stream.status == "LIVE"
            if asked_to_stop and not live:
                lines.append("It is not live, so there is nothing to stop.")
            button = stop_button(meeting_id, "Stop livestream", button_value) if live else None
        case NoActiveLivestream(message=message):
            said = f" (Cloudflare says: {escape(message)})" if message else ""
            lines.append(
                f"{heading}\nThis meeting has no active livestream{said}. Nothing to stop."
            )
            button = None
        case failure:
            lines.append(
                f"{heading}\n:warning: Could not read its status: {describe_failure(failure)}."
            )
            button = stop_button(meeting_id, "Stop anyway", button_value)
    if asked_to_stop and button is not None:
        lines.append("Press the button to stop it. It expires in 5 minutes.")
    reply = _reply("\n".join(lines), looked.request_id)
    if button is not None:
        reply.blocks.append({"type": "actions", "elements": [button]})
    return reply


def stop_button(
    meeting_id: str, label: str = "Stop livestream", value: str | None = None
) -> dict[str, Any]:
    """A danger button that stops `meeting_id`, behind a confirm dialog naming it."""
    return {
        "type": "button",
        "action_id": ACTION_ID,
        "text": {"type": "plain_text", "text": label},
        "style": "danger",
        "value": value or meeting_id,
        "confirm": {
            "title": {"type": "plain_text", "text": "Stop the livestream?"},
            "text": {
                "type": "mrkdwn",
                "text": f"This stops the livestream of meeting `{meeting_id}` for its whole audience.",
            },
            "confirm": {"type": "plain_text", "text": "Stop it"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        },
    }


def something_went_wrong(ref: str) -> Reply:
    """For an unexpected error: no details, only a reference for the logs."""
    return _reply(f":boom: Something went wrong (ref: {ref}). Nothing more is known yet.")


def stopping(meeting_id: str) -> Reply:
    """The private note shown while the API call is under way."""
    return _reply(f":hourglass_flowing_sand: Stopping the livestream of meeting `{meeting_id}`…")


def usage() -> Reply:
    """Help, for the caller only."""
    return _reply(USAGE)


def _reply(text: str, request_id: str | None = None, *, public: bool = False) -> Reply:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if request_id is not None:
        text = f"{text} (ref: {request_id})"
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"ref: `{request_id}`"}]}
        )
    return Reply(text=text, blocks=blocks, public=public)
