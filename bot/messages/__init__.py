"""How outcomes read in Slack: text plus Block Kit, within Slack's limits.

core.py holds the replies every door shares (stops, denials, help), status.py the
status card, live.py the live list and the picker, stop_all.py stop-all's views."""

from bot.messages.core import *  # noqa: F403
from bot.messages.core import __all__ as _core
from bot.messages.status import status_card

__all__ = [*_core, "status_card"]
