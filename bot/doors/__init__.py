"""The ways in: one module per door, each with a `register(app, ...)` that only
translates between Slack and the use case (bot.service)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.doors import buttons, command, guard, listing, shortcut, stop_all, workflow
from bot.doors.background import Background
from bot.doors.outbox import Outbox
from bot.service.live import FindService
from bot.service.stop import StopService
from bot.service.stop_all import StopAllService


def register_all(
    app: AsyncApp,
    service: StopService,
    outbox: Outbox,
    background: Background,
    confirm_first: bool = False,
    finder: FindService | None = None,
    stop_all_service: StopAllService | None = None,
) -> None:
    """Attach every door to `app` (the list, the shortcut and names need `finder`)."""
    guard.register(app)
    command.register(app, service, outbox, background, confirm_first, finder, stop_all_service)
    buttons.register(app, service, outbox, background, finder)
    workflow.register(app, service, outbox, background, finder)
    if finder is not None:
        listing.register(app, finder, outbox, background)
        shortcut.register(app, service, finder, outbox, background)
    if stop_all_service is not None:
        stop_all.register(app, stop_all_service, outbox, background)
