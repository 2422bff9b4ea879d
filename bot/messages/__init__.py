"""How outcomes read in Slack: text plus Block Kit, within Slack's limits.

text.py holds the pieces every view uses, outcomes.py one stop's replies and help,
status.py the status card, live.py the live list and the picker, stop_all.py stop-all's."""

from bot.messages.outcomes import ACTION_ID as ACTION_ID
from bot.messages.outcomes import COMMAND as COMMAND
from bot.messages.outcomes import interrupted as interrupted
from bot.messages.outcomes import invalid_reason as invalid_reason
from bot.messages.outcomes import no_user_context as no_user_context
from bot.messages.outcomes import pressed as pressed
from bot.messages.outcomes import render as render
from bot.messages.outcomes import something_went_wrong as something_went_wrong
from bot.messages.outcomes import stopping as stopping
from bot.messages.outcomes import usage as usage
from bot.messages.status import status_card as status_card
from bot.messages.text import Reply as Reply
from bot.messages.text import describe_failure as describe_failure
