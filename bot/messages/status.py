"""The private status card: what is on air, and a Stop button while it is LIVE."""

from __future__ import annotations

from bot.messages.outcomes import render, stop_button
from bot.messages.text import (
    NAME_LIMIT,
    Reply,
    actions,
    describe_failure,
    escape,
    escape_within,
    text_reply,
)
from bot.realtimekit import Livestream, NoActiveLivestream
from bot.service.admit import Denied, Invalid
from bot.service.names import Names
from bot.service.stop import Looked

_STATUS_ICONS = {
    "LIVE": ":red_circle:",
    "IDLE": ":white_circle:",
    "ERRORED": ":x:",
    "INVOKED": ":hourglass:",
}


def status_card(
    looked: Looked | Invalid | Denied,
    issued_at: float,
    asked_to_stop: bool = False,
    title: str | None = None,
) -> Reply:
    """The private card for `status`; `asked_to_stop`: REQUIRE_CONFIRMATION's step, where
    the card asks the person who asked to stop to confirm with the button."""
    if not isinstance(looked, Looked):
        return render(looked)
    meeting_id = looked.meeting_id
    heading = f"*Livestream of meeting `{meeting_id}`*"
    if title:
        heading += f"\n*Meeting:* {escape_within(title, NAME_LIMIT)}"
    names = Names(None, title)
    lines = [heading]
    match looked.result:
        case Livestream() as stream:
            icon = _STATUS_ICONS.get(stream.status, ":grey_question:")
            lines.append(f"{icon} *{escape(stream.status)}*")
            if stream.name:
                lines.append(f"*Name:* {escape_within(stream.name, NAME_LIMIT)}")
            names = Names(stream.name, title)
            if stream.created_at:
                lines.append(f"*Started:* {escape(stream.created_at)}")
            if stream.updated_at:
                lines.append(f"*Last updated:* {escape(stream.updated_at)}")
            if stream.playback_url:
                lines.append(f"*Playback:* {escape(stream.playback_url)}")
            live = stream.status == "LIVE"
            if asked_to_stop and not live:
                lines.append("It is not live, so there is nothing to stop.")
            button = stop_button(meeting_id, "Stop livestream", issued_at, names) if live else None
        case NoActiveLivestream(message=message):
            said = f" (Cloudflare says: {escape(message)})" if message else ""
            lines.append(f"This meeting has no active livestream{said}. Nothing to stop.")
            button = None
        case failure:
            lines.append(f":warning: Could not read its status: {describe_failure(failure)}.")
            button = stop_button(meeting_id, "Stop anyway", issued_at, names)
    if asked_to_stop and button is not None:
        lines.append("Press the button to stop it. It expires in 5 minutes.")
    reply = text_reply("\n".join(lines), looked.request_id)
    if button is not None:
        reply.blocks.append(actions(button))
    return reply
