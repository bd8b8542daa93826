"""Identities: who is asking, with which roles, at which sites."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALL_SITES", "User"]

ALL_SITES = "*"


@dataclass(frozen=True)
class User:
    """A person known to the policy."""

    user_id: str
    name: str
    roles: frozenset[str]
    sites: frozenset[str] | None
    """Sites whose data the user may see; ``None`` means every site."""

    def site_list(self) -> list[str] | str:
        """Sites for display and audit: a sorted list, or ``"*"`` for every site."""
        return ALL_SITES if self.sites is None else sorted(self.sites)
