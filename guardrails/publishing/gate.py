"""The publication gate: may this user publish this document, and how is it governed?

Publishing a document is decided per document, deny by default, from the policy (``knowledge:`` section and the
``knowledge.publish`` role permission; see :mod:`guardrails.policy.publishing`):

1. owner domain — the first domain of the policy's list that the document is tagged with; none → refused;
2. publisher — one of the user's roles publishes that domain and holds ``knowledge.publish`` at every site the
   document applies to (``*``: every site, so only a user holding every site); otherwise refused;
3. what it does to the index — a new id is published at once; content equal to the published document's
   changes nothing; anything else replaces a published document, which needs one approval from an owner of the
   *published* document's domain: a user other than the requester with an owner role at one of its sites.

The shipped corpus is published by the system (:data:`SYSTEM_PUBLISHER`, no policy user): it adds and updates
its own documents and never replaces one a person published (:meth:`PublicationGate.decide_shipped`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from guardrails.approvals.models import ApproverGroup, utc
from guardrails.approvals.routing import Route
from guardrails.gate import Effect
from guardrails.identity import ALL_SITES, User
from guardrails.policy.loader import Policy
from guardrails.policy.publishing import PUBLISH_PERMISSION, DomainPublishing, PublishingRules
from knowledge.documents import Document
from knowledge.provenance import PublishedDocument

__all__ = ["PUBLISH_ACTION", "SYSTEM_PUBLISHER", "Outcome", "PublicationDecision", "PublicationGate"]

PUBLISH_ACTION = "publish_document"
"""The action name of a publication's approval request (``jidoka approvals``)."""
SYSTEM_PUBLISHER = "system:jidoka"
"""Who publishes the corpus shipped with jidoka (``jidoka init``): recorded in the chunks and the audit."""

Outcome = Literal["new", "replacement", "unchanged", "refused", "kept"]
"""What the decision means for the index: a new document, a replacement of a published one, nothing to do, a
refusal, or (shipped corpus only) a person's publication kept."""
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class PublicationDecision:
    """The gate's typed answer for one document."""

    effect: Effect
    """``allow`` (publish now, or nothing to do), ``deny`` or ``needs_approval``."""
    outcome: Outcome
    rule_id: str
    """The rule that decided: ``enterprise.yaml#knowledge.domains.quality.publishers`` / ``...owners`` or a
    built-in rule (``gate.default_deny``, ``gate.no_site_access``, ``knowledge.unchanged`` ...)."""
    reason: str
    document: Document
    published: PublishedDocument | None
    """The document of that id the index holds now (``None``: a new id)."""
    route: Route | None = None
    """For ``needs_approval``: the owner group and expiry (what the approval request stores)."""

    @property
    def publishes(self) -> bool:
        """True when the document is to be written into the index now."""
        return self.effect is Effect.ALLOW and self.outcome in ("new", "replacement")

    def to_json(self) -> dict[str, Any]:
        """The decision as audited (with the document's id, revision and content hash)."""
        doc = self.document
        out: dict[str, Any] = {
            "tool": PUBLISH_ACTION, "kind": "publish", "doc_id": doc.doc_id, "title": doc.title,
            "revision": doc.revision, "content_hash": doc.content_hash, "sites": list(doc.sites),
            "domains": list(doc.domains), "effect": self.effect.value, "outcome": self.outcome,
            "rule_id": self.rule_id, "reason": self.reason}
        if self.published is not None:
            p = self.published
            out["replaces"] = {"revision": p.revision, "content_hash": p.content_hash,
                               "published_by": p.published_by, "published_at": p.published_at}
        if self.route is not None and self.route.groups:
            out["approver_groups"] = [g.to_json_dict() for g in self.route.groups]
        return out


def _sites(sites: tuple[str, ...]) -> str:
    return "every site" if ALL_SITES in sites else ", ".join(sites) or "no site"


class PublicationGate:
    """Decides publications against one immutable policy."""

    def __init__(self, policy: Policy, rules: PublishingRules | None = None, *, clock: Clock | None = None) -> None:
        """``rules`` default to the policy's ``knowledge:`` section (parsed and checked now)."""
        self.policy = policy
        self.rules = rules if rules is not None else PublishingRules.from_policy(policy)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))

    def _decision(self, effect: Effect, outcome: Outcome, rule_id: str, reason: str, document: Document,
                  published: PublishedDocument | None, route: Route | None = None) -> PublicationDecision:
        return PublicationDecision(effect, outcome, rule_id, reason, document, published, route)

    def may_publish(self, user: User, document: Document) -> tuple[bool, str, str]:
        """(allowed, rule id, reason): may ``user`` publish ``document`` at all (whatever the index holds)?"""
        policy, rule = self.policy, self.rules.owning(document.domains)
        if rule is None:
            return False, "gate.default_deny", (f"No policy rule lets anyone publish documents of "
                                                f"{', '.join(document.domains)}.")
        roles = sorted(user.roles & rule.publishers)
        if not roles:
            who = ", ".join(sorted(rule.publishers)) or "nobody"
            return False, rule.publishers_rule, (f"Your role ({', '.join(sorted(user.roles)) or 'none'}) may not "
                                                 f"publish {rule.domain} documents; they are published by: {who}.")
        mine = policy.user_sites(user)
        held = ", ".join(sorted(mine)) or "no site"
        if ALL_SITES in document.sites and user.sites is not None:
            return False, "gate.no_site_access", (f"{document.doc_id} applies to every site; you may publish for "
                                                  f"{held} only.")
        wanted = policy.sites if ALL_SITES in document.sites else frozenset(document.sites)
        missing = sorted(wanted - mine)
        if missing:
            return False, "gate.no_site_access", (f"{document.doc_id} applies to {', '.join(missing)}, outside your "
                                                  f"sites ({held}).")
        for site in sorted(wanted):
            at = policy.roles_at(site)
            if not any(PUBLISH_PERMISSION in at[r].permissions for r in roles if r in at):
                return False, "gate.no_site_access", (f"At {site} your role may not publish documents (the policy "
                                                      f"removes {PUBLISH_PERMISSION} there).")
        return True, rule.publishers_rule, f"{', '.join(roles)} may publish {rule.domain} documents at " \
                                           f"{_sites(document.sites)}."

    def decide(self, user: User, document: Document, published: PublishedDocument | None, *,
               now: datetime | None = None) -> PublicationDecision:
        """Decide ``user`` publishing ``document`` over ``published`` (the index's document of that id)."""
        allowed, rule_id, reason = self.may_publish(user, document)
        if not allowed:
            return self._decision(Effect.DENY, "refused", rule_id, reason, document, published)
        if published is None:
            return self._decision(Effect.ALLOW, "new", rule_id, f"{document.doc_id} is a new document: {reason}",
                                  document, None)
        if published.consistent and published.content_hash == document.content_hash:
            return self._decision(Effect.ALLOW, "unchanged", "knowledge.unchanged",
                                  f"{document.doc_id} rev {document.revision} is published as it is.", document,
                                  published)
        return self._replacement(user, document, published, utc(now if now is not None else self.clock()))

    def _replacement(self, user: User, document: Document, published: PublishedDocument,
                     now: datetime) -> PublicationDecision:
        owner = self.rules.owning(published.domains) or self.rules.owning(document.domains)
        doc_id, by = document.doc_id, published.published_by or "an earlier ingest"
        if owner is None:
            return self._decision(Effect.DENY, "refused", "knowledge.no_owner",
                                  f"{doc_id} is published and no policy rule names an owner of its domains "
                                  f"({', '.join(published.domains)}), so its replacement cannot be approved.",
                                  document, published)
        group = self._owners(owner, user, published)
        if not group.eligible_user_ids:
            return self._decision(Effect.DENY, "refused", owner.owners_rule,
                                  f"Replacing {doc_id} needs an approval from {group.label} at "
                                  f"{_sites(published.sites)}, and nobody other than you holds that.",
                                  document, published)
        reason = (f"{doc_id} rev {published.revision} is published (by {by}); replacing it with rev "
                  f"{document.revision} needs an approval from {group.label} at {_sites(published.sites)}.")
        route = Route(Effect.NEEDS_APPROVAL, owner.owners_rule, reason, PUBLISH_ACTION, user.user_id, (group,),
                      now + timedelta(hours=self.rules.expires_hours))
        return self._decision(Effect.NEEDS_APPROVAL, "replacement", owner.owners_rule, reason, document, published,
                              route)

    def _owners(self, owner: DomainPublishing, requester: User, published: PublishedDocument) -> ApproverGroup:
        """The one group whose approval a replacement needs: an owner role at one of the published sites."""
        every = ALL_SITES in published.sites or not published.sites
        sites = frozenset(published.sites)
        eligible = sorted(u.user_id for u in self.policy.users.values()
                          if u.user_id != requester.user_id and u.roles & owner.owners
                          and (self.policy.user_sites(u) if every else self.policy.user_sites(u) & sites))
        site = published.sites[0] if not every and len(published.sites) == 1 else None
        return ApproverGroup(roles=tuple(sorted(owner.owners)), site=site, eligible_user_ids=tuple(eligible),
                             rule_id=owner.owners_rule)

    def decide_shipped(self, document: Document, published: PublishedDocument | None) -> PublicationDecision:
        """Decide the system publisher publishing ``document`` of the shipped corpus."""
        rule = "knowledge.system_publisher"
        if published is None:
            return self._decision(Effect.ALLOW, "new", rule, f"{document.doc_id} ships with jidoka.", document, None)
        if published.consistent and published.content_hash == document.content_hash:
            return self._decision(Effect.ALLOW, "unchanged", "knowledge.unchanged",
                                  f"{document.doc_id} rev {document.revision} is published as it is.", document,
                                  published)
        if published.published_by not in ("", SYSTEM_PUBLISHER):
            return self._decision(Effect.DENY, "kept", "knowledge.system_keeps_published",
                                  f"{document.doc_id} rev {published.revision} was published by "
                                  f"{published.published_by}; the system never replaces a person's publication.",
                                  document, published)
        return self._decision(Effect.ALLOW, "replacement", rule,
                              f"{document.doc_id} rev {document.revision} ships with jidoka (the system published "
                              f"rev {published.revision}).", document, published)
