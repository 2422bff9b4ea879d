"""How outcomes read in Slack: text plus Block Kit, within Slack's limits.

text.py holds the pieces every view uses, outcomes.py one stop's replies and help,
status.py the status card, live.py the live list and the picker, stop_all.py stop-all's."""

from bot.messages.outcomes import (
    ACTION_ID,
    COMMAND,
    interrupted,
    invalid_reason,
    no_user_context,
    pressed,
    render,
    something_went_wrong,
    stopping,
    usage,
)
from bot.messages.status import status_card
from bot.messages.text import Reply, describe_failure

__all__ = [
    "ACTION_ID",
    "COMMAND",
    "Reply",
    "describe_failure",
    "interrupted",
    "invalid_reason",
    "no_user_context",
    "pressed",
    "render",
    "something_went_wrong",
    "status_card",
    "stopping",
    "usage",
]
