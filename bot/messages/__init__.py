"""How outcomes read in Slack: text plus Block Kit, within Slack's limits.

core.py holds the replies every door shares (stops, denials, the status card, help)."""

from bot.messages.core import *  # noqa: F403
from bot.messages.core import __all__ as _core

__all__ = list(_core)
