"""The ways in: one module per door, each with a `register(app, ...)` that only
translates between Slack and the use case (bot.stopping)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.doors import buttons, command, guard, listing, shortcut, workflow
from bot.doors.background import Background
from bot.doors.outbox import Outbox
from bot.finding import FindService
from bot.stopping import StopService


def register_all(
    app: AsyncApp,
    service: StopService,
    outbox: Outbox,
    background: Background,
    confirm_first: bool = False,
    finder: FindService | None = None,
) -> None:
    """Attach every door to `app` (the list, the shortcut and names need `finder`)."""
    guard.register(app)
    command.register(app, service, outbox, background, confirm_first, finder)
    buttons.register(app, service, outbox, background, finder)
    workflow.register(app, service, outbox, background, finder)
    if finder is not None:
        listing.register(app, finder, outbox, background)
        shortcut.register(app, service, finder, outbox, background)
