"""Who may stop a livestream: deny by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Allowlist:
    """Slack user IDs allowed to stop livestreams."""

    user_ids: frozenset[str]

    def allows(self, user_id: str) -> bool:
        """True only for a listed user."""
        return user_id in self.user_ids
