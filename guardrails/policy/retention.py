"""The ``audit.retention`` rules: how many days each kind of sealed audit payload stays readable, per plant.

``retention`` maps a sealed event kind (:data:`guardrails.audit.sealing.SEALED_FIELDS`: ``prompt``, ``answer``,
``model_request``, ``model_response``) to days. ``jidoka audit purge`` destroys the data key of every month whose
events are all older than that (:mod:`guardrails.audit.retention`); the events stay in the chain with their
sealed fields unreadable. A kind not listed is kept. The enterprise layer sets the rules; a domain layer may only
shorten them everywhere, a plant layer only for its own site's events (the key of an event belongs to its user's
site when the user has exactly one; events of other users follow the enterprise and domain rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guardrails.errors import PolicyError, PolicyLoosening

if TYPE_CHECKING:
    from guardrails.policy.loader import Policy

__all__ = ["RetentionRules"]

_KINDS = ("prompt", "answer", "model_request", "model_response")
"""The sealed kinds (kept in step with guardrails.audit.sealing.SEALED_FIELDS, which a test checks)."""


@dataclass(frozen=True)
class RetentionRules:
    """Days per sealed kind, everywhere and per site, after every layer."""

    days: Mapping[str, int] = field(default_factory=dict)
    """Kind → days, for every site (enterprise, shortened by domain layers)."""
    by_site: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Site → kind → days, where a plant layer shortened them."""
    decided_in: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(kind, site or ``*``) → the policy file that set the days."""

    def days_for(self, kind: str, site: str) -> int | None:
        """Days ``kind`` events of ``site`` stay readable; ``None``: kept."""
        return self.by_site.get(site, {}).get(kind, self.days.get(kind))

    def source(self, kind: str, site: str) -> str:
        """The policy file whose rule applies to ``kind`` at ``site``."""
        return self.decided_in.get((kind, site)) or self.decided_in.get((kind, "*"), "")

    @classmethod
    def from_policy(cls, policy: Policy) -> RetentionRules:
        """The rules of a loaded policy's ``audit:`` sections (:class:`PolicyError` when one is malformed)."""
        rules = cls()
        for doc, raw in policy.sections("audit"):
            if isinstance(raw, Mapping) and "retention" in raw:
                rules = rules._layer(doc.file, doc.layer, doc.name, raw["retention"])
        return rules

    def _layer(self, file: str, layer: str, name: str, raw: Any) -> RetentionRules:
        if not isinstance(raw, Mapping):
            raise PolicyError(file, "audit.retention", f"must map event kinds ({', '.join(_KINDS)}) to days")
        parsed: dict[str, int] = {}
        for kind, days in raw.items():
            key = f"audit.retention.{kind}"
            if kind not in _KINDS:
                raise PolicyError(file, key, f"only sealed kinds can expire: {', '.join(_KINDS)}")
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise PolicyError(file, key, f"must be a whole number of days >= 1, got {days!r}")
            parsed[str(kind)] = days
        if layer == "enterprise":
            return RetentionRules(parsed, {}, {(k, "*"): file for k in parsed})
        site = name if layer == "plant" else "*"
        decided = dict(self.decided_in)
        for kind, days in parsed.items():
            above = self.days_for(kind, site)
            if above is not None and days > above:
                raise PolicyLoosening(file, f"audit.retention.{kind}",
                                      f"would keep {kind} {days} days, longer than {above} "
                                      f"({self.source(kind, site)})")
            decided[(kind, site)] = file
        if site == "*":
            return RetentionRules({**self.days, **parsed}, self.by_site, decided)
        return RetentionRules(self.days, {**self.by_site, site: {**self.by_site.get(site, {}), **parsed}}, decided)
