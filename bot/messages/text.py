"""The pieces every view uses: Slack's limits, escaping, a Reply, failures in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.realtimekit import (
    ApiError,
    Lost,
    NotSent,
    RateLimited,
    StopFailure,
    TimedOut,
    Unconfirmed,
    UnexpectedResponse,
    Unreachable,
)
from bot.slack_ids import is_user_id

# Slack's limits (Block Kit reference): longer texts are rejected, so we shorten them.
SECTION_TEXT_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
CONFIRM_TITLE_LIMIT = 100
CONFIRM_TEXT_LIMIT = 300
MESSAGE_TEXT_LIMIT = 4000  # the notification fallback; Slack truncates past 40,000
QUOTED_LIMIT = 500  # outside text (API messages, names) inside one of our sentences
NAME_LIMIT = 200  # a livestream's name or a meeting's title, escaped, in a post
CONFIRM_NAME_LIMIT = 80  # the same inside a confirm dialog (CONFIRM_TEXT_LIMIT in all)

_UNREACHABLE = {
    "refused": "connection refused",
    "dns": "its host name did not resolve",
    "connect_timeout": "connecting timed out",
    "network": "network error",
}


@dataclass(frozen=True)
class Reply:
    """A Slack message: `text` is the notification fallback, `blocks` the layout."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    public: bool = False


def fit(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str, limit: int = QUOTED_LIMIT) -> str:
    """Outside text, cut to `limit`, made inert in mrkdwn (no mentions, links, broadcasts)."""
    return fit(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_within(text: str, limit: int) -> str:
    """escape(text), at most `limit` characters once escaped (escaping can quintuple it)."""
    keep = limit
    while True:
        escaped = escape(text, keep)
        if len(escaped) <= limit or keep <= 1:
            return escaped
        keep = max(1, min(keep - 1, keep * limit // len(escaped)))


def mention(user_id: str) -> str:
    """`<@U…>` for a well-formed user ID; anything else is shown inert, never as markup."""
    return f"<@{user_id}>" if is_user_id(user_id) else quote_input(user_id, 40)


def quote_input(text: str, limit: int = 80) -> str:
    """Show what a person typed, shortened and made inert, inside code markup."""
    return "`" + escape(fit(text, limit)).replace("`", "'") + "`"


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object, cut to `limit`."""
    return {"type": "plain_text", "text": fit(text, limit)}


def section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    """A mrkdwn section, cut to Slack's limit, with an optional accessory."""
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT_LIMIT)},
    }
    if accessory is not None:
        block["accessory"] = accessory
    return block


def ref_block(request_id: str) -> dict[str, Any]:
    """The context line that quotes a reply's ref."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"ref: `{request_id}`"}]}


def danger_button(
    action_id: str, label: str, value: str, title: str, text: str, yes: str
) -> dict[str, Any]:
    """A red button that stops something, behind a confirm dialog: `title`, `text`, `yes`."""
    return {
        "type": "button",
        "action_id": action_id,
        "text": plain(label, BUTTON_TEXT_LIMIT),
        "style": "danger",
        "value": value,
        "confirm": {
            "title": plain(title, CONFIRM_TITLE_LIMIT),
            "text": {"type": "mrkdwn", "text": fit(text, CONFIRM_TEXT_LIMIT)},
            "confirm": plain(yes, BUTTON_TEXT_LIMIT),
            "deny": plain("Cancel", BUTTON_TEXT_LIMIT),
            "style": "danger",
        },
    }


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    """An actions block."""
    return {"type": "actions", "elements": list(elements)}


def text_reply(text: str, request_id: str | None = None, *, public: bool = False) -> Reply:
    """A reply of one section (cut to Slack's limits) and, with `request_id`, its ref."""
    blocks = [section(text)]
    text = fit(text, MESSAGE_TEXT_LIMIT)
    if request_id is not None:
        text = f"{text} (ref: {request_id})"
        blocks.append(ref_block(request_id))
    return Reply(text=text, blocks=blocks, public=public)


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
                f"{seconds_text(seconds or 60)}"
            )
        case RateLimited(retry_after=seconds):
            if seconds is None:
                return "rate limited by Cloudflare; wait a minute before retrying"
            return f"rate limited by Cloudflare; retry in {seconds_text(seconds)}"
        case TimedOut(seconds=seconds):
            return (
                f"timed out after {seconds_text(seconds)} waiting for the API; "
                "the livestream may or may not have stopped"
            )
        case Unreachable(reason="reset"):
            return (
                "the connection to the Cloudflare API broke before it answered; "
                "the livestream may or may not have stopped"
            )
        case Unreachable(reason=reason):
            return f"could not reach the Cloudflare API ({_UNREACHABLE[reason]})"
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
            return f"timed out after {seconds_text(seconds)}"
        case Unreachable():
            return "the connection broke"
        case UnexpectedResponse(status=status) | ApiError(status=status):
            return f"HTTP {status} from Cloudflare's edge"


def seconds_text(value: float) -> str:
    """A duration in seconds, briefly: `0.5 s`, `42 s`."""
    return f"{value:.2g} s" if value < 10 else f"{round(value)} s"
