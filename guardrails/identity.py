"""Identities: who is asking, with which roles, at which sites."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALL_SITES", "LANGUAGES", "User"]

ALL_SITES = "*"
LANGUAGES = ("en", "es")
"""Languages the copilot answers in (``User.language``); the first is the default."""


@dataclass(frozen=True)
class User:
    """A person known to the policy."""

    user_id: str
    name: str
    roles: frozenset[str]
    sites: frozenset[str] | None
    """Sites whose data the user may see; ``None`` means every site."""
    language: str = LANGUAGES[0]
    """The language the copilot answers this user in (one of :data:`LANGUAGES`)."""

    def site_list(self) -> list[str] | str:
        """Sites for display and audit: a sorted list, or ``"*"`` for every site."""
        return ALL_SITES if self.sites is None else sorted(self.sites)
