"""Who may read which chunks: the reader's scope as a Chroma ``where`` filter.

The filter goes into the query itself (dense and lexical alike), so a chunk outside the scope is never
returned to the process — not retrieved and then dropped. A document is readable when it applies to one
of the reader's sites (or to every site), names one of the reader's roles (or every role), and covers one
of the plant-data domains the reader's roles grant (or is ``general``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from knowledge.documents import ALL

__all__ = ["GENERAL_DOMAIN", "DocumentScope"]

GENERAL_DOMAIN = "general"
"""Documents for everyone who may read documents at all (the governance policy, plant overviews)."""


def _any_of(key: str, values: frozenset[str]) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [{key: {"$contains": v}} for v in sorted(values)]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


@dataclass(frozen=True)
class DocumentScope:
    """The reader's sites, roles and granted data domains."""

    sites: frozenset[str] | None
    """Sites the reader may see; ``None`` means every site."""
    roles: frozenset[str]
    domains: frozenset[str]
    """Plant-data domains the reader's roles grant (``inventory``, ``quality``, …)."""

    @property
    def empty(self) -> bool:
        """True when no document can match (no sites or no roles)."""
        return (self.sites is not None and not self.sites) or not self.roles

    def where(self) -> dict[str, Any]:
        """The Chroma metadata filter; only meaningful when not :attr:`empty`."""
        clauses = [_any_of("roles", self.roles | {ALL}), _any_of("domains", self.domains | {GENERAL_DOMAIN})]
        if self.sites is not None:
            clauses.insert(0, _any_of("sites", self.sites | {ALL}))
        return {"$and": clauses}

    def allows(self, sites: tuple[str, ...], roles: tuple[str, ...], domains: tuple[str, ...]) -> bool:
        """The same rule in Python (for checks and tests; retrieval uses :meth:`where`)."""
        site_ok = self.sites is None or ALL in sites or bool(self.sites & set(sites))
        role_ok = ALL in roles or bool(self.roles & set(roles))
        domain_ok = GENERAL_DOMAIN in domains or bool(self.domains & set(domains))
        return not self.empty and site_ok and role_ok and domain_ok

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary for audit records."""
        return {"sites": sorted(self.sites) if self.sites is not None else "*", "roles": sorted(self.roles),
                "domains": sorted(self.domains)}
