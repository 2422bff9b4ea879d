"""The ways in: one module per door, module-level listeners, each module with a
`register(app)`; they only translate between Slack and the use cases, and take their
dependencies (`deps.Deps`) from Bolt's context."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import buttons, command, guard, shortcut, stop_all, workflow


def register(app: AsyncApp) -> None:
    """Attach every door to `app`, behind the guard for payloads Bolt cannot read."""
    for door in (guard, command, buttons, workflow, shortcut, stop_all):
        door.register(app)
