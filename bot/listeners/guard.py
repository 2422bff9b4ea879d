"""A guard in front of Bolt's listener matching, for payloads Bolt itself cannot read."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import audit
from bot.listeners.deps import text_at
from bot.service.admit import new_request_id

log = logging.getLogger(__name__)


class UnreadableActions(AsyncMiddleware):
    """Refuses a block_actions payload whose first action is not an object with an
    action_id: Bolt's matchers read `actions[0]["action_id"]` and would answer 500."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],  # Bolt passes it by this name
    ) -> BoltResponse | None:
        """Stop an unreadable press here (audited, HTTP 200); pass anything else on."""
        body = req.body
        if body.get("type") == "block_actions" and not _readable(body.get("actions")):
            ref = new_request_id()
            log.warning("refused a button press with no readable action (ref: %s)", ref)
            audit.write(
                "stop", request_id=ref, door="button", team_id=text_at(body, "team", "id"),
                user_id=text_at(body, "user", "id"), decision="invalid", reason="malformed_button",
            )  # fmt: skip
            return BoltResponse(status=200, body="")
        await next()
        return resp


def _readable(actions: object) -> bool:
    return (
        isinstance(actions, list)
        and bool(actions)
        and isinstance(actions[0], dict)
        and isinstance(actions[0].get("action_id"), str)
    )


def register(app: AsyncApp) -> None:
    """Put the guard before every listener."""
    app.middleware(UnreadableActions())
