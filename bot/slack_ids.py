"""The shapes of Slack IDs, defined once: the settings check their lists with them, the use
cases a request's IDs, so nothing else can reach mrkdwn as `<@...>`."""

import re


def _shape(initials: str) -> re.Pattern[str]:
    return re.compile(f"[{initials}][A-Z0-9]{{2,30}}", re.ASCII)


USER_ID = _shape("UW")  # a person: U..., or W... on Enterprise Grid
SENDER_ID = _shape("UWB")  # who a payload says acted: a person or a bot (B...)
GROUP_ID = _shape("S")
CHANNEL_ID = _shape("CGD")


def is_user_id(text: str) -> bool:
    """True when `text` has the shape of a Slack user (or bot) ID."""
    return SENDER_ID.fullmatch(text) is not None


def is_channel_id(text: str) -> bool:
    """True when `text` has the shape of a Slack channel ID."""
    return CHANNEL_ID.fullmatch(text) is not None
