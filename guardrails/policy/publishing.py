"""The policy's ``knowledge:`` section: who may publish documents of which domain, and who owns them.

A document belongs to the first domain of the section's ``domains`` (in their written order) that its front
matter lists — QP-004, tagged quality, production and inventory, is a quality document — and that domain's
rule names the roles that may publish such documents (``publishers``, each also holding the
``knowledge.publish`` permission at the document's sites) and the roles that own them (``owners``: they approve a
replacement of a published one). A document of no listed domain can be published by nobody (deny by default).

The section is set in ``enterprise.yaml`` only. A lower layer tightens publishing through the role grants: a
domain or plant layer may remove ``knowledge.publish`` from a role (``permissions: []``), which the gate checks
per site (:mod:`guardrails.publishing.gate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.errors import PolicyError
from guardrails.policy._layer_parse import LayerDoc
from guardrails.policy.loader import Policy

__all__ = ["DEFAULT_EXPIRES_HOURS", "PUBLISH_PERMISSION", "DomainPublishing", "PublishingRules"]

PUBLISH_PERMISSION = "knowledge.publish"
"""The role permission a publisher needs (at every site of the document)."""
DEFAULT_EXPIRES_HOURS = 72
"""How long a replacement waits for its owner's approval unless the section says otherwise."""

_SECTION_KEYS = frozenset({"domains", "expires_hours"})
_DOMAIN_KEYS = frozenset({"publishers", "owners"})


@dataclass(frozen=True)
class DomainPublishing:
    """Who publishes and who owns the documents of one domain."""

    domain: str
    publishers: frozenset[str]
    """Roles that may publish documents of this domain (with ``knowledge.publish`` at the document's sites)."""
    owners: frozenset[str]
    """Roles whose approval a replacement of a published document of this domain needs."""
    file: str

    @property
    def publishers_rule(self) -> str:
        """``enterprise.yaml#knowledge.domains.quality.publishers``."""
        return f"{self.file}#knowledge.domains.{self.domain}.publishers"

    @property
    def owners_rule(self) -> str:
        """``enterprise.yaml#knowledge.domains.quality.owners``."""
        return f"{self.file}#knowledge.domains.{self.domain}.owners"


@dataclass(frozen=True)
class PublishingRules:
    """The parsed ``knowledge:`` section (no section: nobody may publish)."""

    domains: tuple[DomainPublishing, ...] = ()
    """In the section's order: the first one a document lists owns it."""
    expires_hours: int = DEFAULT_EXPIRES_HOURS

    def owning(self, domains: Iterable[str]) -> DomainPublishing | None:
        """The rule of the domain that owns a document tagged ``domains`` (``None``: no listed domain)."""
        tagged = set(domains)
        return next((rule for rule in self.domains if rule.domain in tagged), None)

    @classmethod
    def from_policy(cls, policy: Policy) -> PublishingRules:
        """Parse and check the section of ``policy`` (raises :class:`~guardrails.errors.PolicyError`)."""
        sections = policy.sections("knowledge")
        for doc, _ in sections:
            if doc.layer != "enterprise":
                raise PolicyError(doc.file, "knowledge", "publishing is set in enterprise.yaml only; a lower layer "
                                                          "tightens it by removing the knowledge.publish permission "
                                                          "from a role")
        if not sections:
            return cls()
        doc, raw = sections[0]
        return _parse(doc, raw, frozenset(policy.roles))


def _names(file: str, key: str, value: Any, roles: frozenset[str]) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(file, key, f"must be a list of role names, got {value!r}")
    for name in sorted(set(value) - roles):
        raise PolicyError(file, key, f"unknown role {name!r}")
    return frozenset(value)


def _parse(doc: LayerDoc, raw: Any, roles: frozenset[str]) -> PublishingRules:
    file = doc.file
    if not isinstance(raw, Mapping):
        raise PolicyError(file, "knowledge", f"must be a mapping with {sorted(_SECTION_KEYS)}")
    for key in sorted(str(k) for k in raw if k not in _SECTION_KEYS):
        raise PolicyError(file, f"knowledge.{key}", f"unknown key; allowed: {sorted(_SECTION_KEYS)}")
    hours = raw.get("expires_hours", DEFAULT_EXPIRES_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
        raise PolicyError(file, "knowledge.expires_hours", f"must be a whole number of hours >= 1, got {hours!r}")
    domains = raw.get("domains") or {}
    if not isinstance(domains, Mapping):
        raise PolicyError(file, "knowledge.domains", "must be a mapping of domain → {publishers, owners}")
    granted = {name for name, rule in doc.roles.items() if PUBLISH_PERMISSION in (rule.permissions or ())}
    rules = []
    for domain, body in domains.items():
        base = f"knowledge.domains.{domain}"
        if not isinstance(body, Mapping):
            raise PolicyError(file, base, "must be a mapping with publishers and owners")
        for key in sorted(str(k) for k in body if k not in _DOMAIN_KEYS):
            raise PolicyError(file, f"{base}.{key}", f"unknown key; allowed: {sorted(_DOMAIN_KEYS)}")
        publishers = _names(file, f"{base}.publishers", body.get("publishers", []), roles)
        owners = _names(file, f"{base}.owners", body.get("owners"), roles)
        if not owners:
            raise PolicyError(file, f"{base}.owners", "a domain needs at least one owner role (who approves a "
                                                      "replacement of its published documents)")
        for role in sorted(publishers - granted):
            raise PolicyError(file, f"{base}.publishers",
                              f"role {role!r} is a publisher but roles.{role}.permissions lacks "
                              f"{PUBLISH_PERMISSION}: grant it or remove the role from the publishers")
        rules.append(DomainPublishing(str(domain), publishers, owners, file))
    return PublishingRules(tuple(rules), hours)
