"""Parsing the ``actions:`` policy section of one layer into typed rules, with errors naming file and key.

A layer's rule leaves a key ``None`` when that layer does not set it; merging
(:mod:`guardrails.policy._actions_merge`) fills it from the layer above.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from guardrails.errors import PolicyError
from guardrails.policy.triggers import TRIGGER_KINDS
from tools.spec import RiskClass

__all__ = [
    "ACTION_RISK_CLASSES",
    "DEFAULT_EXPIRES_HOURS",
    "DEFAULT_SIMILAR_WITHIN_HOURS",
    "AutonomyCondition",
    "GroupSpec",
    "LayerActionRule",
    "SiteRef",
    "ValueRule",
    "parse_actions",
    "risk_rank",
]

DEFAULT_EXPIRES_HOURS = 24.0
"""How long a request stays open when the policy does not say."""

DEFAULT_SIMILAR_WITHIN_HOURS = 168.0
"""Requests by one requester for one action on one subject this close together are shown to approvers as
possible probing, when the policy does not say (a week)."""


ACTION_RISK_CLASSES = (RiskClass.AUTONOMOUS, RiskClass.APPROVAL, RiskClass.ADVISORY)
"""The risk classes an action may have, least to most restrictive: a lower layer may only move right."""


def risk_rank(risk: RiskClass) -> int:
    """Order used by the tightening check: a lower layer may only raise it."""
    return ACTION_RISK_CLASSES.index(risk)


class SiteRef(StrEnum):
    """Which site an approver of a group must hold."""

    ANY = "any"
    SUBJECT = "subject"
    """The site whose data the action changes (for a reallocation: the source site)."""
    TO_SITE = "to_site"
    """The destination site of a reallocation."""


@dataclass(frozen=True)
class GroupSpec:
    """An approver group as the policy writes it: any one user with one of ``roles`` (at ``site``)."""

    roles: frozenset[str]
    site: SiteRef
    rule_id: str
    """``file#actions.<action>.approvers[i]``."""


@dataclass(frozen=True)
class ValueRule:
    """``when: {value_usd_over: N}``: above ``N`` US$ the ``approvers`` groups are added."""

    value_usd_over: Decimal
    approvers: tuple[GroupSpec, ...]
    rule_id: str


@dataclass(frozen=True)
class AutonomyCondition:
    """One ``autonomous_when`` entry: the action runs without approval when ALL its constraints hold."""

    rule_id: str
    requester_is: str | None = None
    """Name of a fact holding a user id that must be the requester (e.g. ``po_buyer_user_id``)."""
    requester_roles: frozenset[str] | None = None
    """The requester must hold one of these roles."""
    fact_at_most: Mapping[str, Decimal] = field(default_factory=dict)
    fact_at_least: Mapping[str, Decimal] = field(default_factory=dict)
    fact_in: Mapping[str, frozenset[str]] = field(default_factory=dict)
    value_usd_at_most: Decimal | None = None


@dataclass(frozen=True)
class LayerActionRule:
    """What one layer says about one action; ``None`` means this layer does not set the key."""

    action: str
    file: str
    domain: str | None = None
    description: str | None = None
    risk_class: RiskClass | None = None
    proposers: frozenset[str] | None = None
    approvers: tuple[GroupSpec, ...] | None = None
    when: tuple[ValueRule, ...] | None = None
    autonomous_when: tuple[AutonomyCondition, ...] | None = None
    expires_hours: float | None = None
    similar_within_hours: float | None = None
    triggers: Mapping[str, Decimal] | None = None
    """Trigger limits (``guardrails.policy.triggers.TRIGGER_KINDS``) this layer sets."""


_ACTION_KEYS = {"domain", "description", "risk_class", "proposers", "approvers", "when", "autonomous_when",
                "expires_hours", "similar_within_hours", "triggers"}
_GROUP_KEYS = {"roles", "site", "not_requester"}
_CONDITION_KEYS = {"requester_is", "requester_roles", "fact_at_most", "fact_at_least", "fact_in",
                   "value_usd_at_most"}


class _Reader:
    """Helpers bound to one file, so every error names it."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, message: str) -> PolicyError:
        return PolicyError(self.file, key, message)

    def mapping(self, key: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def keys(self, key: str, body: Mapping[str, Any], allowed: set[str]) -> None:
        unknown = sorted(str(k) for k in set(body) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (allowed: {sorted(allowed)})")

    def items(self, key: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, got {type(value).__name__}")
        return value

    def names(self, key: str, value: Any, *, allow_empty: bool = True) -> frozenset[str]:
        items = self.items(key, value)
        bad = [v for v in items if not isinstance(v, str) or not v]
        if bad:
            raise self.fail(key, f"must contain only non-empty names, got {bad[0]!r}")
        if not items and not allow_empty:
            raise self.fail(key, "must name at least one")
        return frozenset(items)

    def roles(self, key: str, value: Any, known: frozenset[str], *,
              allow_empty: bool = True) -> frozenset[str]:
        names = self.names(key, value, allow_empty=allow_empty)
        for role in sorted(names - known):
            raise self.fail(key, f"unknown role {role!r}")
        return names

    def number(self, key: str, value: Any, *, positive: bool = False) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.fail(key, f"must be a number, got {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(key, f"must be a number, got {value!r}") from None
        if not number.is_finite() or number < 0 or (positive and number == 0):
            kind = "positive" if positive else "non-negative"
            raise self.fail(key, f"must be a {kind} number, got {value!r}")
        return number


def _group(r: _Reader, key: str, raw: Any, roles: frozenset[str]) -> GroupSpec:
    body = r.mapping(key, raw)
    r.keys(key, body, _GROUP_KEYS)
    if "roles" not in body:
        raise r.fail(f"{key}.roles", "an approver group needs roles")
    if body.get("not_requester", True) is not True:
        raise r.fail(f"{key}.not_requester", "separation of duties: the requester can never approve, so "
                                             "not_requester may only be true")
    site_raw = body.get("site", SiteRef.ANY.value)
    try:
        site = SiteRef(site_raw)
    except ValueError:
        allowed = [s.value for s in SiteRef]
        raise r.fail(f"{key}.site", f"must be one of {allowed}, got {site_raw!r}") from None
    return GroupSpec(roles=r.roles(f"{key}.roles", body["roles"], roles, allow_empty=False), site=site,
                     rule_id=f"{r.file}#{key}")


def _groups(r: _Reader, key: str, raw: Any, roles: frozenset[str]) -> tuple[GroupSpec, ...]:
    return tuple(_group(r, f"{key}[{i}]", item, roles) for i, item in enumerate(r.items(key, raw)))


def _value_rule(r: _Reader, key: str, raw: Any, roles: frozenset[str]) -> ValueRule:
    body = r.mapping(key, raw)
    r.keys(key, body, {"value_usd_over", "approvers"})
    for needed in ("value_usd_over", "approvers"):
        if needed not in body:
            raise r.fail(f"{key}.{needed}", "required in a `when` rule")
    approvers = _groups(r, f"{key}.approvers", body["approvers"], roles)
    if not approvers:
        raise r.fail(f"{key}.approvers", "a `when` rule must add at least one approver group")
    return ValueRule(value_usd_over=r.number(f"{key}.value_usd_over", body["value_usd_over"]),
                     approvers=approvers, rule_id=f"{r.file}#{key}")


def _condition(r: _Reader, key: str, raw: Any, roles: frozenset[str]) -> AutonomyCondition:
    body = r.mapping(key, raw)
    r.keys(key, body, _CONDITION_KEYS)
    if not body:
        raise r.fail(key, "an autonomy condition needs at least one constraint")
    requester_is = body.get("requester_is")
    if requester_is is not None and (not isinstance(requester_is, str) or not requester_is):
        raise r.fail(f"{key}.requester_is", "must name a fact that holds a user id")

    def numbers(name: str) -> dict[str, Decimal]:
        facts = r.mapping(f"{key}.{name}", body.get(name, {}))
        return {str(k): r.number(f"{key}.{name}.{k}", v) for k, v in facts.items()}

    fact_in = {str(k): r.names(f"{key}.fact_in.{k}", v, allow_empty=False)
               for k, v in r.mapping(f"{key}.fact_in", body.get("fact_in", {})).items()}
    return AutonomyCondition(
        rule_id=f"{r.file}#{key}",
        requester_is=requester_is,
        requester_roles=r.roles(f"{key}.requester_roles", body["requester_roles"], roles, allow_empty=False)
        if "requester_roles" in body else None,
        fact_at_most=numbers("fact_at_most"),
        fact_at_least=numbers("fact_at_least"),
        fact_in=fact_in,
        value_usd_at_most=r.number(f"{key}.value_usd_at_most", body["value_usd_at_most"])
        if "value_usd_at_most" in body else None,
    )


def _triggers(r: _Reader, key: str, raw: Any) -> dict[str, Decimal]:
    body = r.mapping(key, raw)
    r.keys(key, body, set(TRIGGER_KINDS))
    return {str(name): r.number(f"{key}.{name}", value) for name, value in body.items()}


def _action(r: _Reader, action: str, raw: Any, roles: frozenset[str]) -> LayerActionRule:
    key = f"actions.{action}"
    body = r.mapping(key, raw)
    r.keys(key, body, _ACTION_KEYS)
    risk: RiskClass | None = None
    if "risk_class" in body:
        risk = next((c for c in ACTION_RISK_CLASSES if c == body["risk_class"]), None)
        if risk is None:
            raise r.fail(f"{key}.risk_class", f"must be one of {[x.value for x in ACTION_RISK_CLASSES]}, "
                                              f"got {body['risk_class']!r}")
    for text_key in ("domain", "description"):
        if text_key in body and (not isinstance(body[text_key], str) or not body[text_key]):
            raise r.fail(f"{key}.{text_key}", "must be a non-empty string")
    return LayerActionRule(
        action=action,
        file=r.file,
        domain=body.get("domain"),
        description=body.get("description"),
        risk_class=risk,
        proposers=r.roles(f"{key}.proposers", body["proposers"], roles) if "proposers" in body else None,
        approvers=_groups(r, f"{key}.approvers", body["approvers"], roles) if "approvers" in body else None,
        when=tuple(
            _value_rule(r, f"{key}.when[{i}]", item, roles)
            for i, item in enumerate(r.items(f"{key}.when", body["when"]))
        ) if "when" in body else None,
        autonomous_when=tuple(
            _condition(r, f"{key}.autonomous_when[{i}]", item, roles)
            for i, item in enumerate(r.items(f"{key}.autonomous_when", body["autonomous_when"]))
        ) if "autonomous_when" in body else None,
        expires_hours=float(r.number(f"{key}.expires_hours", body["expires_hours"], positive=True))
        if "expires_hours" in body else None,
        similar_within_hours=float(r.number(f"{key}.similar_within_hours", body["similar_within_hours"],
                                            positive=True)) if "similar_within_hours" in body else None,
        triggers=_triggers(r, f"{key}.triggers", body["triggers"]) if "triggers" in body else None,
    )


def parse_actions(file: str, raw: Any, roles: frozenset[str]) -> dict[str, LayerActionRule]:
    """Parse one layer's ``actions:`` section; ``roles`` are the role names the policy defines."""
    r = _Reader(file)
    if raw is None:
        return {}
    section = r.mapping("actions", raw)
    out: dict[str, LayerActionRule] = {}
    for action, body in section.items():
        if not isinstance(action, str) or not action:
            raise r.fail("actions", f"action names must be non-empty strings, got {action!r}")
        out[action] = _action(r, action, body, roles)
    return out
