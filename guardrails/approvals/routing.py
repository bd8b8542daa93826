"""Approval routing: who must approve a proposed action, or whether it may run (or is refused) outright.

Routing is a pure decision over the policy's ``actions:`` section (see
``guardrails/policy/layers/enterprise.yaml``) and its users: ``(action, requester,
subject) → Route``. Deny by default: an action without rules, a requester whose
roles may not propose it, a subject site outside the requester's sites, an
advisory action and a group nobody but the requester could approve are all
refused with the rule id that decided.

A requester who may not see the value behind ``value_usd`` is told nothing that depends on it (see
:mod:`guardrails.approvals.disclosure`): the route's rule id, reason and effect are the same for every value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from guardrails.approvals._conditions import describe_condition, distinct_approvers, holds, number
from guardrails.approvals.disclosure import RouteNotice, applies_if, applies_since, value_hidden
from guardrails.approvals.models import ApproverGroup, utc
from guardrails.errors import PolicyError
from guardrails.gate import Effect
from guardrails.identity import User
from guardrails.policy._actions_merge import ActionRule, ActionRules, build_action_rules
from guardrails.policy._actions_parse import GroupSpec, SiteRef
from guardrails.policy.loader import Policy
from guardrails.policy.triggers import ActionTriggers
from tools.spec import RiskClass

__all__ = [
    "ActionRule",
    "ActionRules",
    "ApprovalRouter",
    "Route",
    "RouteNotice",
    "RoutingSubject",
    "SubjectLike",
    "action_rules",
    "route",
    "subject_json",
]

Clock = Callable[[], datetime]


class SubjectLike(Protocol):
    """What routing needs from a proposed action's subject (``tools.actions`` ``ActionSubject`` fits).

    Beyond these two, routing reads the destination site from ``to_site`` or
    ``to_site_id`` and the facts rules test from a ``facts`` mapping or, when
    there is none, from the subject's other fields (``po_buyer_user_id``,
    ``pull_in_days``, ``asset_criticality`` ...); see :meth:`RoutingSubject.of`.
    """

    @property
    def site_id(self) -> str:
        """The site whose data the action changes (for a reallocation: the source site)."""

    @property
    def value_usd(self) -> float | Decimal:
        """Money at stake in US$ (quantity × standard cost); 0 when not applicable."""


_NOT_FACTS = frozenset({"site_id", "value_usd", "to_site", "to_site_id", "facts"})


def _fields(subject: object) -> dict[str, Any]:
    dump = getattr(subject, "model_dump", None)
    if callable(dump):
        return dict(dump())
    if dataclasses.is_dataclass(subject) and not isinstance(subject, type):
        return {f.name: getattr(subject, f.name) for f in dataclasses.fields(subject)}
    if not hasattr(subject, "__dict__"):
        return {}
    return {k: v for k, v in vars(subject).items() if not k.startswith("_")}


@dataclass(frozen=True)
class RoutingSubject:
    """The subject as routing reads it: site, destination site, value and facts."""

    site_id: str
    value_usd: float | Decimal = 0
    to_site: str | None = None
    facts: Mapping[str, object] = field(default_factory=dict)
    """Facts routing rules name (``po_buyer_user_id``, ``pull_in_days``, ``asset_criticality`` ...)."""

    @classmethod
    def of(cls, subject: SubjectLike) -> RoutingSubject:
        """Normalise any subject: ``to_site`` or ``to_site_id``; ``facts`` or else every other field."""
        if isinstance(subject, RoutingSubject):
            return subject
        to_site = getattr(subject, "to_site", None) or getattr(subject, "to_site_id", None)
        facts = getattr(subject, "facts", None)
        if not isinstance(facts, Mapping):
            facts = {k: v for k, v in _fields(subject).items() if k not in _NOT_FACTS}
        return cls(site_id=subject.site_id, value_usd=subject.value_usd, to_site=to_site, facts=dict(facts))


@dataclass(frozen=True)
class Route:
    """The routing decision for one proposed action."""

    effect: Effect
    """``allow`` (run now, autonomous), ``deny`` or ``needs_approval``."""
    rule_id: str
    """The rule that decided: ``file#actions.<action>.<key>`` or a built-in ``approvals.*`` rule."""
    reason: str
    """A sentence the model can relay to the user."""
    action: str
    requester_id: str
    groups: tuple[ApproverGroup, ...] = ()
    """For ``needs_approval``: the groups that must ALL approve."""
    expires_at: datetime | None = None
    """For ``needs_approval``: when the request stops being decidable (UTC)."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def subject_json(subject: SubjectLike) -> dict[str, Any]:
    """``subject`` as routing saw it, as plain JSON values (what a request stores)."""
    plain = RoutingSubject.of(subject)
    return {"site_id": plain.site_id, "to_site": plain.to_site, "value_usd": _plain(plain.value_usd),
            "facts": _plain(dict(plain.facts))}


def _check_proposers_granted(policy: Policy, rules: ActionRules) -> None:
    """Every proposer role must be granted the action (its domain or its name) where the rule applies.

    Otherwise the policy lists proposers the gate never offers the action to; failing here keeps the
    ``actions:`` section and the role grants from drifting apart.
    """
    plant_files = {doc.name: doc.file for doc in policy.layers if doc.layer == "plant"}
    # Every site with a plant layer: its roles may be narrower even where its actions are not.
    scopes: list[tuple[str | None, Mapping[str, ActionRule]]] = [
        (None, rules.base), *((site, rules.for_site(site)) for site in sorted(policy.sites))]
    for site, by_action in scopes:
        roles = policy.roles if site is None else policy.roles_at(site)
        for rule in by_action.values():
            for role in sorted(rule.proposers):
                effective = roles.get(role)
                if effective is not None and effective.grants(rule.action, rule.domain):
                    continue
                # The base rules passed first, so a failure for one site comes from that plant's layer.
                origin = rule.origins["proposers"].partition("#")[0]
                file = plant_files.get(site, origin) if site is not None else origin
                where = f" at {site}" if site is not None else ""
                raise PolicyError(file, f"actions.{rule.action}.proposers",
                                  f"role {role!r} is a proposer of {rule.action} but is not granted it{where} "
                                  f"(roles.{role} grants neither the {rule.domain!r} domain nor the action by "
                                  "name), so it would never be offered: grant the role the action or remove it "
                                  "from the proposers")


def action_rules(policy: Policy) -> ActionRules:
    """Parse and merge the policy's ``actions`` sections (raises ``PolicyError`` / ``PolicyLoosening``), and
    check that every proposer role is granted its action."""
    rules = build_action_rules(policy.sections("actions"), frozenset(policy.roles))
    _check_proposers_granted(policy, rules)
    return rules


class ApprovalRouter:
    """Routes proposed actions against one immutable policy (rules are parsed and checked once, here)."""

    def __init__(self, policy: Policy, *, clock: Clock | None = None) -> None:
        """Parse the policy's action rules now, so a bad or loosening layer fails at startup."""
        self.policy = policy
        self.rules = action_rules(policy)
        self._clock = clock or (lambda: datetime.now(UTC))

    def rule(self, action: str, site: str) -> ActionRule | None:
        """The effective rule for ``action`` on data of ``site``."""
        return self.rules.for_site(site).get(action)

    def triggers(self, action: str, sites: Iterable[str]) -> ActionTriggers:
        """The trigger limits of ``action`` at each of ``sites`` (trigger name → site → limit)."""
        limits: dict[str, dict[str, float]] = {}
        for site in sorted(sites):
            rule = self.rule(action, site)
            for name, limit in (rule.triggers if rule is not None else {}).items():
                limits.setdefault(name, {})[site] = float(limit)
        return ActionTriggers(action, limits)

    def _deny(self, action: str, requester: User, rule_id: str, reason: str) -> Route:
        return Route(Effect.DENY, rule_id, reason, action, requester.user_id)

    def _group(self, spec: GroupSpec, requester: User, subject: RoutingSubject,
               condition: str | None = None) -> tuple[ApproverGroup, str | None]:
        """The concrete group, and why it cannot be formed (``None`` when it can)."""
        sites = {SiteRef.SUBJECT: subject.site_id, SiteRef.TO_SITE: subject.to_site, SiteRef.ANY: None}
        site = sites[spec.site]
        eligible = () if spec.site is SiteRef.TO_SITE and site is None else tuple(sorted(
            u.user_id for u in self.policy.users.values()
            if u.user_id != requester.user_id and u.roles & spec.roles
            and (site is None or site in self.policy.user_sites(u))))
        group = ApproverGroup(roles=tuple(sorted(spec.roles)), site=site, eligible_user_ids=eligible,
                              rule_id=spec.rule_id, condition=condition)
        if spec.site is SiteRef.TO_SITE and site is None:
            return group, "it names the destination site and this request has none"
        if not eligible:
            return group, f"it needs {group.label} and nobody other than the requester holds that"
        return group, None

    def notice(self, action: str, requester: User, site: str, to_site: str | None = None) -> RouteNotice | None:
        """What ``requester`` is told about routing ``action`` on data of ``site`` when they may not see the
        value: every group it may need, whatever the value (``None`` when no rule covers the action)."""
        rule = self.rule(action, site)
        if rule is None:
            return None
        subject = RoutingSubject(site_id=site, to_site=to_site)
        specs: list[tuple[GroupSpec, str | None]] = [(spec, None) for spec in rule.approvers]
        specs += [(spec, applies_if(extra.value_usd_over)) for extra in rule.when for spec in extra.approvers]
        groups = tuple(self._group(spec, requester, subject, condition)[0] for spec, condition in specs)
        return RouteNotice(action, rule.origins["approvers"], groups)

    def _unformable(self, action: str, requester: User, notice: RouteNotice, subject: RoutingSubject,
                    rule: ActionRule) -> Route | None:
        """A refusal when a group the action may need cannot be formed (checked whatever the value, so a
        requester who may not see it cannot tell a refusal above the threshold from one below)."""
        specs = [*rule.approvers, *(spec for extra in rule.when for spec in extra.approvers)]
        for spec, group in zip(specs, notice.groups, strict=True):
            problem = self._group(spec, requester, subject, group.condition)[1]
            if problem is not None:
                may = f" ({group.condition})" if group.condition else ""
                return self._deny(action, requester, spec.rule_id, f"{action} cannot be approved: {problem}{may}.")
        if not distinct_approvers(notice.groups):
            return self._deny(action, requester, notice.rule_id,
                              f"{action} cannot be approved: the {len(notice.groups)} groups it may need must be "
                              "different people and too few are eligible.")
        return None

    def route(self, action: str, requester: User, subject: SubjectLike, *,
              now: datetime | None = None) -> Route:
        """Decide how ``action`` proposed by ``requester`` on ``subject`` is governed."""
        now = utc(now if now is not None else self._clock())
        named = getattr(subject, "action", action)
        if named != action:
            return self._deny(action, requester, "approvals.subject_mismatch",
                              f"The subject describes {named!r}, not {action!r}; it cannot be routed.")
        subject = RoutingSubject.of(subject)
        site = subject.site_id
        rule = self.rule(action, site)
        if rule is None:
            return self._deny(action, requester, "approvals.unknown_action",
                              f"No policy rule covers the action {action!r}, so it cannot run.")
        if not requester.roles & rule.proposers:
            return self._deny(action, requester, rule.origins["proposers"],
                              f"Your role ({', '.join(sorted(requester.roles))}) may not propose {action}; "
                              f"it may be proposed by: {', '.join(sorted(rule.proposers)) or 'nobody'}.")
        if site not in self.policy.user_sites(requester):
            mine = ", ".join(sorted(self.policy.user_sites(requester))) or "no sites"
            return self._deny(action, requester, "approvals.requester_site",
                              f"{action} changes data of site {site}, which is outside your sites ({mine}).")
        value = number(subject.value_usd)
        if value is None or value < 0:  # the value itself stays out of the reason: it may be hidden
            return self._deny(action, requester, "approvals.invalid_subject",
                              f"{action} has no valid US$ value, so it cannot be routed.")
        if rule.risk_class is RiskClass.ADVISORY:
            return self._deny(action, requester, rule.origins["risk_class"],
                              f"{action} is advisory at {site}: recommendation only; a person must do it "
                              "in the plant systems.")
        if rule.risk_class is RiskClass.AUTONOMOUS:
            return Route(Effect.ALLOW, rule.origins["risk_class"],
                         f"{action} runs without approval at {site} (risk class autonomous).",
                         action, requester.user_id)
        blind = value_hidden(self.policy, requester, (site, subject.to_site))
        for cond in rule.autonomous_when:
            # Autonomy by value only for requesters who may see it: running at once would tell them its side.
            if (not blind or cond.value_usd_at_most is None) and holds(cond, requester, subject.facts, value):
                return Route(Effect.ALLOW, cond.rule_id,
                             f"{action} runs without approval because {describe_condition(cond)}.",
                             action, requester.user_id)
        notice = self.notice(action, requester, site, subject.to_site) if blind else None
        if notice is not None:
            refused = self._unformable(action, requester, notice, subject, rule)
            if refused is not None:
                return refused
        specs: list[tuple[GroupSpec, str | None]] = [(spec, None) for spec in rule.approvers]
        rule_id, why = rule.origins["approvers"], ""
        for extra in rule.when:
            if value > extra.value_usd_over:
                specs += [(spec, applies_since(extra.value_usd_over)) for spec in extra.approvers]
                # The threshold, not the value: the reason is shown to people who may not see standard costs.
                rule_id, why = extra.rule_id, f" (value over ${extra.value_usd_over:,})"
        groups: list[ApproverGroup] = []
        for spec, condition in specs:
            group, problem = self._group(spec, requester, subject, condition)
            if problem is not None:
                return self._deny(action, requester, spec.rule_id, f"{action} cannot be approved: {problem}.")
            groups.append(group)
        if not distinct_approvers(groups):
            return self._deny(action, requester, rule_id,
                              f"{action} cannot be approved: its {len(groups)} groups need different people "
                              "and too few are eligible.")
        expires = now + timedelta(hours=rule.expires_hours)
        if notice is not None:  # the real groups are stored for the approvers; the requester gets the notice
            return Route(Effect.NEEDS_APPROVAL, notice.rule_id, notice.reason, action, requester.user_id,
                         tuple(groups), expires)
        needed = " AND ".join(g.label for g in groups)
        return Route(Effect.NEEDS_APPROVAL, rule_id, f"{action} needs approval from {needed}{why}.",
                     action, requester.user_id, tuple(groups), expires)


def route(policy: Policy, action: str, requester: User, subject: SubjectLike, *, now: datetime) -> Route:
    """One-off routing (parses the action rules on each call; keep an :class:`ApprovalRouter` instead)."""
    return ApprovalRouter(policy).route(action, requester, subject, now=now)
