"""Identities: who is asking, with which roles, at which sites."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALL_SITES", "LANGUAGES", "SYSTEM_PREFIX", "User", "parse_system_requester", "system_requester"]

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


SYSTEM_PREFIX = "monitor:"
"""Requester ids of the monitoring loop start with this: ``monitor:<role>@<site>[+<site>...]``. No policy user can
have such an id (user ids are names), so the system can request actions on behalf of a role but never decide one."""


def system_requester(role: str, site: str, *more_sites: str) -> User:
    """The monitor acting on behalf of ``role`` at ``site`` (the signal's) and ``more_sites`` (those an action on it
    touches: a reallocation's source for a shortage here): the requester of the actions it proposes."""
    sites = [site, *sorted(set(more_sites) - {site})]
    return User(user_id=f"{SYSTEM_PREFIX}{role}@{'+'.join(sites)}",
                name=f"jidoka monitor (for {role} at {', '.join(sites)})", roles=frozenset({role}),
                sites=frozenset(sites))


def parse_system_requester(user_id: str, roles: frozenset[str] | set[str]) -> User | None:
    """The :func:`system_requester` ``user_id`` names, if it is one for a role among ``roles`` (else ``None``)."""
    if not user_id.startswith(SYSTEM_PREFIX):
        return None
    role, at, where = user_id[len(SYSTEM_PREFIX):].partition("@")
    sites = [s for s in where.split("+") if s]
    if not at or role not in roles or not sites:
        return None
    return system_requester(role, *sites)
