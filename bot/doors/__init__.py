"""The ways in: one module per door, each with a `register(app, ...)` that only
translates between Slack and the use case (bot.stopping)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.doors import buttons, command, guard, workflow
from bot.doors.background import Background
from bot.doors.outbox import Outbox
from bot.stopping import StopService


def register_all(
    app: AsyncApp,
    service: StopService,
    outbox: Outbox,
    background: Background,
    confirm_first: bool = False,
) -> None:
    """Attach every door to `app`."""
    guard.register(app)
    command.register(app, service, outbox, background, confirm_first)
    buttons.register(app, service, outbox, background)
    workflow.register(app, service, outbox, background)
