"""Layering of action rules: domain and plant layers may only tighten what the layers above set.

Every check raises :class:`PolicyLoosening` naming the file, the key and what
the change would loosen. A plant layer's rules form a separate rule set used
only for actions whose subject site is that plant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy._actions_parse import (
    DEFAULT_EXPIRES_HOURS,
    DEFAULT_SIMILAR_WITHIN_HOURS,
    AutonomyCondition,
    GroupSpec,
    LayerActionRule,
    SiteRef,
    ValueRule,
    parse_actions,
    risk_rank,
)
from guardrails.policy._layer_parse import LayerDoc
from tools.spec import RiskClass

__all__ = ["ActionRule", "ActionRules", "build_action_rules"]

T = TypeVar("T")


@dataclass(frozen=True)
class ActionRule:
    """The effective rule for one action after merging layers."""

    action: str
    domain: str
    """Tool domain of the action; a domain layer may only set rules for actions of domains it covers."""
    description: str
    risk_class: RiskClass
    proposers: frozenset[str]
    """Roles that may propose the action at all."""
    approvers: tuple[GroupSpec, ...]
    """Groups that must ALL approve."""
    when: tuple[ValueRule, ...]
    """Value rules that add groups above a US$ threshold."""
    autonomous_when: tuple[AutonomyCondition, ...]
    """Any one matching condition lets an ``approval`` action run without approval."""
    expires_hours: float
    origins: Mapping[str, str] = field(default_factory=dict)
    """Rule id (``file#key``) that last set each of ``risk_class``, ``proposers``, ``approvers``,
    ``expires_hours`` and ``triggers.<name>``."""
    triggers: Mapping[str, Decimal] = field(default_factory=dict)
    """Trigger limits (name → limit) telling the copilot when to propose the action; lower is stricter."""
    similar_within_hours: float = DEFAULT_SIMILAR_WITHIN_HOURS
    """Requests by one requester for this action on one subject created this close together are shown to
    approvers as possible probing; longer is stricter."""


@dataclass(frozen=True)
class ActionRules:
    """Effective action rules: enterprise + domain layers, and per site with that plant's layer on top."""

    base: Mapping[str, ActionRule]
    per_site: Mapping[str, Mapping[str, ActionRule]] = field(default_factory=dict)

    def for_site(self, site: str) -> Mapping[str, ActionRule]:
        """The rules for actions whose subject site is ``site``."""
        return self.per_site.get(site, self.base)


def _required(value: T | None, file: str, key: str) -> T:
    """``value``, which enterprise.yaml must set; :class:`PolicyError` naming ``key`` when it does not."""
    if value is None:
        raise PolicyError(file, key, "required in enterprise.yaml")
    return value


def _from_enterprise(rule: LayerActionRule) -> ActionRule:
    key = f"actions.{rule.action}"
    domain = _required(rule.domain, rule.file, f"{key}.domain")
    risk_class = _required(rule.risk_class, rule.file, f"{key}.risk_class")
    proposers = _required(rule.proposers, rule.file, f"{key}.proposers")
    origins = {name: f"{rule.file}#{key}.{name}" for name in ("risk_class", "proposers", "approvers",
                                                              "expires_hours", "similar_within_hours")}
    origins.update({f"triggers.{t}": f"{rule.file}#{key}.triggers.{t}" for t in rule.triggers or {}})
    return ActionRule(
        action=rule.action, domain=domain, description=rule.description or "",
        risk_class=risk_class,
        proposers=proposers, approvers=rule.approvers or (), when=rule.when or (),
        autonomous_when=rule.autonomous_when or (),
        expires_hours=rule.expires_hours if rule.expires_hours is not None else DEFAULT_EXPIRES_HOURS,
        origins=origins, triggers=dict(rule.triggers or {}),
        similar_within_hours=rule.similar_within_hours if rule.similar_within_hours is not None
        else DEFAULT_SIMILAR_WITHIN_HOURS,
    )


def _same_group(a: GroupSpec, b: GroupSpec) -> bool:
    return a.roles == b.roles and a.site == b.site


def _tighten_groups(file: str, key: str, upper: Sequence[GroupSpec], lower: Sequence[GroupSpec]
                    ) -> tuple[GroupSpec, ...]:
    """Lower groups keep every upper group (same position, same or fewer roles, same or stricter site)."""
    if len(lower) < len(upper):
        missing = upper[len(lower)]
        raise PolicyLoosening(file, key, f"would remove approver group {len(lower)} "
                                         f"(roles {sorted(missing.roles)}) that the layer above requires; "
                                         "a lower layer may only narrow groups or add new ones")
    merged: list[GroupSpec] = []
    for i, group in enumerate(lower):
        if i >= len(upper):
            merged.append(group)
            continue
        above = upper[i]
        extra = sorted(group.roles - above.roles)
        if extra:
            raise PolicyLoosening(file, f"{key}[{i}].roles", f"would let role {extra[0]!r} approve for this "
                                                             "group, which the layer above does not allow")
        if group.site is not above.site and above.site is not SiteRef.ANY:
            raise PolicyLoosening(file, f"{key}[{i}].site", f"would change the approver's site from "
                                                            f"{above.site.value!r} to {group.site.value!r}")
        merged.append(above if _same_group(group, above) else group)
    return tuple(merged)


def _tighten_when(file: str, key: str, upper: Sequence[ValueRule], lower: Sequence[ValueRule]
                  ) -> tuple[ValueRule, ...]:
    if len(lower) < len(upper):
        raise PolicyLoosening(file, key, f"would remove value rule {len(lower)} (over "
                                         f"${upper[len(lower)].value_usd_over}) that the layer above sets")
    merged: list[ValueRule] = []
    for i, rule in enumerate(lower):
        if i >= len(upper):
            merged.append(rule)
            continue
        above = upper[i]
        if rule.value_usd_over > above.value_usd_over:
            raise PolicyLoosening(file, f"{key}[{i}].value_usd_over", f"would raise the threshold from "
                                  f"{above.value_usd_over} to {rule.value_usd_over}")
        groups = _tighten_groups(file, f"{key}[{i}].approvers", above.approvers, rule.approvers)
        unchanged = rule.value_usd_over == above.value_usd_over and groups == above.approvers
        merged.append(above if unchanged else replace(rule, approvers=groups))
    return tuple(merged)


def _looser_than(lower: AutonomyCondition, upper: AutonomyCondition) -> str | None:
    """Why ``lower`` may hold where ``upper`` does not (``None`` when ``lower`` implies ``upper``)."""
    if upper.requester_is is not None and lower.requester_is != upper.requester_is:
        return f"drops the requirement that the requester is {upper.requester_is}"
    if upper.requester_roles is not None:
        extra = sorted((lower.requester_roles or frozenset({"(any role)"})) - upper.requester_roles)
        if extra:
            return f"lets requester role {extra[0]!r} act autonomously"
    for fact, limit in upper.fact_at_most.items():
        mine = lower.fact_at_most.get(fact)
        if mine is None or mine > limit:
            return f"raises the autonomy limit {fact} at most {limit} to {'none' if mine is None else mine}"
    for fact, limit in upper.fact_at_least.items():
        mine = lower.fact_at_least.get(fact)
        if mine is None or mine < limit:
            return f"lowers the autonomy floor {fact} at least {limit} to {'none' if mine is None else mine}"
    for fact, allowed in upper.fact_in.items():
        values = lower.fact_in.get(fact)
        extra = sorted(allowed if values is None else values - allowed)
        if values is None or extra:
            return f"lets {fact} = {extra[0] if values is not None else '(any value)'!r} act autonomously"
    if upper.value_usd_at_most is not None and (
            lower.value_usd_at_most is None or lower.value_usd_at_most > upper.value_usd_at_most):
        return f"raises the autonomy limit value_usd at most {upper.value_usd_at_most}"
    return None


def _tighten_autonomy(file: str, key: str, upper: Sequence[AutonomyCondition],
                      lower: Sequence[AutonomyCondition]) -> tuple[AutonomyCondition, ...]:
    merged: list[AutonomyCondition] = []
    for i, cond in enumerate(lower):
        if not upper:
            raise PolicyLoosening(file, f"{key}[{i}]", "would make the action autonomous where the layer "
                                                       "above always requires approval")
        reasons = [_looser_than(cond, above) for above in upper]
        if all(r is not None for r in reasons):
            raise PolicyLoosening(file, f"{key}[{i}]", f"would allow autonomy the layer above does not: "
                                                       f"{reasons[0]}")
        same = next((a for a in upper if replace(a, rule_id="") == replace(cond, rule_id="")), None)
        merged.append(same or cond)
    return tuple(merged)


def _tighten_triggers(file: str, key: str, upper: Mapping[str, Decimal], lower: Mapping[str, Decimal],
                      origins: dict[str, str]) -> dict[str, Decimal]:
    """A lower layer may lower a trigger limit or add one the layer above does not set, never raise one."""
    merged = dict(upper)
    for name, limit in lower.items():
        above = upper.get(name)
        if above is not None and limit > above:
            raise PolicyLoosening(file, f"{key}.{name}", f"would raise the trigger limit {name} from {above} to "
                                                         f"{limit}; a lower layer may only lower it")
        if above is None or limit < above:
            merged[name], origins[f"triggers.{name}"] = limit, f"{file}#{key}.{name}"
    return merged


def _tighten(upper: ActionRule, rule: LayerActionRule) -> ActionRule:
    file, key = rule.file, f"actions.{rule.action}"
    for enterprise_only in ("domain", "description"):
        if getattr(rule, enterprise_only) is not None:
            raise PolicyError(file, f"{key}.{enterprise_only}", "set in enterprise.yaml only")
    origins = dict(upper.origins)
    risk = upper.risk_class
    if rule.risk_class is not None:
        if risk_rank(rule.risk_class) < risk_rank(upper.risk_class):
            raise PolicyLoosening(file, f"{key}.risk_class", f"would lower risk_class from "
                                  f"{upper.risk_class.value} to {rule.risk_class.value}")
        if rule.risk_class is not upper.risk_class:
            risk, origins["risk_class"] = rule.risk_class, f"{file}#{key}.risk_class"
    proposers = upper.proposers
    if rule.proposers is not None:
        extra = sorted(rule.proposers - upper.proposers)
        if extra:
            raise PolicyLoosening(file, f"{key}.proposers", f"would let role {extra[0]!r} propose "
                                                            f"{rule.action}, which the layer above does not")
        if rule.proposers != upper.proposers:
            proposers, origins["proposers"] = rule.proposers, f"{file}#{key}.proposers"
    approvers = upper.approvers
    if rule.approvers is not None:
        approvers = _tighten_groups(file, f"{key}.approvers", upper.approvers, rule.approvers)
        if approvers != upper.approvers:
            origins["approvers"] = f"{file}#{key}.approvers"
    expires = upper.expires_hours
    if rule.expires_hours is not None:
        if rule.expires_hours > upper.expires_hours:
            raise PolicyLoosening(file, f"{key}.expires_hours", f"would extend expiry from "
                                  f"{upper.expires_hours:g} h to {rule.expires_hours:g} h")
        if rule.expires_hours != upper.expires_hours:
            expires, origins["expires_hours"] = rule.expires_hours, f"{file}#{key}.expires_hours"
    similar = upper.similar_within_hours
    if rule.similar_within_hours is not None:
        if rule.similar_within_hours < similar:
            raise PolicyLoosening(file, f"{key}.similar_within_hours", f"would shorten the window in which "
                                  f"repeated requests are shown to approvers from {similar:g} h to "
                                  f"{rule.similar_within_hours:g} h")
        if rule.similar_within_hours != similar:
            similar = rule.similar_within_hours
            origins["similar_within_hours"] = f"{file}#{key}.similar_within_hours"
    when = upper.when if rule.when is None else _tighten_when(file, f"{key}.when", upper.when, rule.when)
    autonomy = upper.autonomous_when if rule.autonomous_when is None else _tighten_autonomy(
        file, f"{key}.autonomous_when", upper.autonomous_when, rule.autonomous_when)
    triggers = upper.triggers if rule.triggers is None else _tighten_triggers(
        file, f"{key}.triggers", upper.triggers, rule.triggers, origins)
    return replace(upper, risk_class=risk, proposers=proposers, approvers=approvers, when=when,
                   autonomous_when=autonomy, expires_hours=expires, origins=origins, triggers=triggers,
                   similar_within_hours=similar)


def _merge(upper: Mapping[str, ActionRule], doc: LayerDoc, rules: Mapping[str, LayerActionRule]
           ) -> dict[str, ActionRule]:
    merged = dict(upper)
    for action, rule in rules.items():
        above = upper.get(action)
        if above is None:
            raise PolicyLoosening(doc.file, f"actions.{action}",
                                  "would add an action the enterprise layer does not define")
        if doc.layer == "domain" and above.domain not in doc.covers:
            raise PolicyError(doc.file, f"actions.{action}",
                              f"action {action!r} is in domain {above.domain!r}, which this layer does not "
                              f"cover ({sorted(doc.covers)})")
        merged[action] = _tighten(above, rule)
    return merged


def _check_complete(rules: Mapping[str, ActionRule]) -> None:
    for rule in rules.values():
        if rule.risk_class is RiskClass.APPROVAL and not rule.approvers:
            file = rule.origins["risk_class"].partition("#")[0]
            raise PolicyError(file, f"actions.{rule.action}.approvers",
                              "an action with risk_class approval needs at least one approver group")


def build_action_rules(sections: Sequence[tuple[LayerDoc, Any]], roles: frozenset[str]) -> ActionRules:
    """Merge the ``actions`` sections of every layer (top layer first, as ``Policy.sections`` gives them)."""
    parsed = [(doc, parse_actions(doc.file, raw, roles)) for doc, raw in sections]
    base: dict[str, ActionRule] = {}
    enterprise_seen = False
    for doc, rules in parsed:
        if doc.layer == "enterprise":
            enterprise_seen = True
            base = {name: _from_enterprise(rule) for name, rule in rules.items()}
    if not enterprise_seen and parsed:
        doc = parsed[0][0]
        raise PolicyLoosening(doc.file, "actions",
                              "would add action rules the enterprise layer does not define")
    for doc, rules in parsed:
        if doc.layer == "domain":
            base = _merge(base, doc, rules)
    _check_complete(base)
    per_site: dict[str, Mapping[str, ActionRule]] = {}
    for doc, rules in parsed:
        if doc.layer == "plant":
            site_rules = _merge(base, doc, rules)
            _check_complete(site_rules)
            per_site[doc.name] = site_rules
    return ActionRules(base=base, per_site=per_site)
