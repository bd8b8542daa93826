"""The policy's ``monitoring:`` section: which detectors run, their thresholds, and whom they concern.

Each detector (a deterministic rule over the plant data, :mod:`tools.monitoring`) has

- ``owner``: the role the monitor acts on behalf of. A signal is shown to that role at the signal's site, and a
  proposal is requested by the system *as* that role (``monitor:<role>@<site>``) — never approved by it: the
  system identity is no user of the policy, so it can decide nothing;
- ``escalate_to``: the roles, in order, a signal moves to when the action taken on it does not improve things;
- ``propose``: the governed actions the monitor proposes for a finding, in order (each decided by the same gate,
  routing and separation of duties as a chat request; empty = an advisory signal only);
- ``params``: the detector's thresholds;
- ``watchers``: roles that see the signals (at their sites) without acting on them.

``risk_classes`` are the action classes the monitor may propose at all (like a model's grant); ``watch_runs`` is
how many runs after an executed action the monitor waits for the outcome to improve before escalating.

Only the enterprise layer defines detectors. A domain or plant layer may only tighten: lower a threshold
(raise one of :data:`RAISE_TIGHTENS`, e.g. look further ahead), remove a risk class, or lower ``watch_runs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy._layer_parse import LayerDoc
from guardrails.policy.loader import Policy
from tools.actions.catalog import ACTIONS
from tools.monitoring import DEFAULT_PARAMS, DETECTOR_KINDS
from tools.spec import RiskClass

__all__ = ["DEFAULT_INTERVAL_MINUTES", "DEFAULT_WATCH_RUNS", "RAISE_TIGHTENS", "DetectorRule", "MonitoringRules"]

RAISE_TIGHTENS = frozenset({"horizon_days"})
"""Detector parameters a lower layer may only raise (looking further ahead finds more); every other one is a
threshold a lower layer may only lower."""

DEFAULT_INTERVAL_MINUTES = 15
"""How often ``jidoka serve`` runs the monitor when neither the settings nor the policy say."""
DEFAULT_WATCH_RUNS = 3
"""Runs after an executed action before a signal that does not improve is escalated."""

_SECTION = frozenset({"interval_minutes", "risk_classes", "watch_runs", "detectors"})
_DETECTOR = frozenset({"owner", "escalate_to", "watchers", "propose", "params", "enabled"})
_LOWER_SECTION = frozenset({"risk_classes", "watch_runs", "detectors"})
_LOWER_DETECTOR = frozenset({"params"})
_MONITOR_CLASSES = (RiskClass.ADVISORY, RiskClass.APPROVAL, RiskClass.AUTONOMOUS)
_ACTION_NAMES = frozenset(a.name for a in ACTIONS)


@dataclass(frozen=True)
class DetectorRule:
    """One detector as it applies at one site."""

    kind: str
    owner: str
    """The role signals go to and proposals are requested as."""
    escalate_to: tuple[str, ...]
    propose: tuple[str, ...]
    params: Mapping[str, float]
    rule_id: str
    """Where the rule is written: ``enterprise.yaml#monitoring.detectors.scrap_spike``."""
    watchers: frozenset[str] = frozenset()
    """Roles that see the detector's signals at their sites without responding (an executive's overview)."""

    def roles(self) -> tuple[str, ...]:
        """The owner and then the escalation roles, in order."""
        return (self.owner, *self.escalate_to)


@dataclass(frozen=True)
class MonitoringRules:
    """The parsed ``monitoring:`` section, per site (no section: the monitor has nothing to run)."""

    detectors: Mapping[str, DetectorRule] = field(default_factory=dict)
    """Enterprise rules by kind (enabled ones only)."""
    site_params: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    """Per site, per kind: the parameters after domain and plant layers."""
    site_classes: Mapping[str, frozenset[RiskClass]] = field(default_factory=dict)
    site_watch_runs: Mapping[str, int] = field(default_factory=dict)
    class_rules: Mapping[str, str] = field(default_factory=dict)
    """Per site whose layers set ``risk_classes``: the file and key that did."""
    risk_classes: frozenset[RiskClass] = frozenset({RiskClass.ADVISORY})
    watch_runs: int = DEFAULT_WATCH_RUNS
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES
    file: str = "enterprise.yaml"

    def at(self, site: str) -> list[DetectorRule]:
        """Every enabled detector with its parameters for ``site``, in kind order."""
        params = self.site_params.get(site, {})
        return [replace(rule, params=params.get(kind, rule.params)) for kind, rule in sorted(self.detectors.items())]

    def rule(self, kind: str, site: str) -> DetectorRule | None:
        """The detector ``kind`` at ``site`` (``None`` when not enabled)."""
        return next((r for r in self.at(site) if r.kind == kind), None)

    def may_propose(self, risk: RiskClass, site: str) -> bool:
        """True when the monitor may propose an action of class ``risk`` for data of ``site``."""
        return risk in self.site_classes.get(site, self.risk_classes)

    def risk_classes_rule(self, site: str) -> str:
        """Where the monitor's risk classes for ``site`` are set (the plant file when it tightened them)."""
        return self.class_rules.get(site, f"{self.file}#monitoring.risk_classes")

    def watch(self, site: str) -> int:
        """Runs to wait for an outcome at ``site`` before escalating."""
        return self.site_watch_runs.get(site, self.watch_runs)

    @classmethod
    def from_policy(cls, policy: Policy) -> MonitoringRules:
        """Parse and merge the section of every layer (raises :class:`~guardrails.errors.PolicyError`)."""
        sections = policy.sections("monitoring")
        top = [(doc, raw) for doc, raw in sections if doc.layer == "enterprise"]
        if not top:
            for doc, _ in sections:
                raise PolicyError(doc.file, "monitoring", "detectors are defined in enterprise.yaml first")
            return cls()
        doc, raw = top[0]
        rules = _parse_enterprise(doc, raw, frozenset(policy.roles))
        domain = [(d, r) for d, r in sections if d.layer == "domain"]
        base_params = {k: dict(r.params) for k, r in rules.detectors.items()}
        base_classes, base_watch = rules.risk_classes, rules.watch_runs
        base_rule = f"{doc.file}#monitoring.risk_classes"
        for d, r in domain:
            base_classes, base_watch = _tighten(d, r, base_params, base_classes, base_watch)
            if isinstance(r, Mapping) and "risk_classes" in r:
                base_rule = f"{d.file}#monitoring.risk_classes"
        plants = {d.name: (d, r) for d, r in sections if d.layer == "plant"}
        site_params: dict[str, Mapping[str, Mapping[str, float]]] = {}
        site_classes: dict[str, frozenset[RiskClass]] = {}
        site_watch: dict[str, int] = {}
        class_rules: dict[str, str] = {}
        for site in sorted(policy.sites):
            params = {k: dict(v) for k, v in base_params.items()}
            classes, watch = base_classes, base_watch
            class_rules[site] = base_rule
            if site in plants:
                classes, watch = _tighten(*plants[site], params, classes, watch)
                plant_doc, plant_raw = plants[site]
                if isinstance(plant_raw, Mapping) and "risk_classes" in plant_raw:
                    class_rules[site] = f"{plant_doc.file}#monitoring.risk_classes"
            site_params[site], site_classes[site], site_watch[site] = params, classes, watch
        return replace(rules, site_params=site_params, site_classes=site_classes, site_watch_runs=site_watch,
                       risk_classes=base_classes, watch_runs=base_watch, class_rules=class_rules)


def _mapping(file: str, key: str, raw: Any, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise PolicyError(file, key, f"must be a mapping with {sorted(allowed)}")
    for name in sorted(str(k) for k in raw if k not in allowed):
        raise PolicyError(file, f"{key}.{name}", f"unknown key; allowed: {sorted(allowed)}")
    return raw


def _whole(file: str, key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise PolicyError(file, key, f"must be a whole number >= {low}, got {value!r}")
    return value


def _number(file: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PolicyError(file, key, f"must be a number >= 0, got {value!r}")
    return float(value)


def _classes(file: str, key: str, raw: Any) -> frozenset[RiskClass]:
    names = {c.value for c in _MONITOR_CLASSES}
    if not isinstance(raw, list) or not all(isinstance(v, str) and v in names for v in raw):
        raise PolicyError(file, key, f"must be a list of {sorted(names)}, got {raw!r}")
    return frozenset(RiskClass(v) for v in raw)


def _roles(file: str, key: str, raw: Any, roles: frozenset[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise PolicyError(file, key, f"must be a list of role names, got {raw!r}")
    for name in raw:
        if name not in roles:
            raise PolicyError(file, key, f"unknown role {name!r}")
    return tuple(raw)


def _params(file: str, key: str, kind: str, raw: Any) -> dict[str, float]:
    known = DEFAULT_PARAMS[kind]
    body = _mapping(file, key, raw or {}, frozenset(known))
    return {name: _number(file, f"{key}.{name}", body[name]) if name in body else float(default)
            for name, default in sorted(known.items())}


def _parse_enterprise(doc: LayerDoc, raw: Any, roles: frozenset[str]) -> MonitoringRules:
    file = doc.file
    body = _mapping(file, "monitoring", raw, _SECTION)
    detectors: dict[str, DetectorRule] = {}
    for kind, spec in (_mapping(file, "monitoring.detectors", body.get("detectors") or {},
                                frozenset(DETECTOR_KINDS))).items():
        key = f"monitoring.detectors.{kind}"
        spec = _mapping(file, key, spec, _DETECTOR)
        if not isinstance(spec.get("enabled", True), bool):
            raise PolicyError(file, f"{key}.enabled", "must be true or false")
        owner = spec.get("owner")
        if not isinstance(owner, str) or owner not in roles:
            raise PolicyError(file, f"{key}.owner", f"must name a role, got {owner!r}")
        propose = spec.get("propose") or []
        if not isinstance(propose, list) or not all(isinstance(a, str) and a in _ACTION_NAMES for a in propose):
            raise PolicyError(file, f"{key}.propose", f"must list governed actions of {sorted(_ACTION_NAMES)}")
        rule = DetectorRule(kind=kind, owner=owner,
                            escalate_to=_roles(file, f"{key}.escalate_to", spec.get("escalate_to") or [], roles),
                            propose=tuple(propose), params=_params(file, f"{key}.params", kind, spec.get("params")),
                            rule_id=f"{file}#{key}",
                            watchers=frozenset(_roles(file, f"{key}.watchers", spec.get("watchers") or [], roles)))
        if spec.get("enabled", True):
            detectors[kind] = rule
    return MonitoringRules(
        detectors=detectors,
        risk_classes=_classes(file, "monitoring.risk_classes", body.get("risk_classes", ["advisory"])),
        watch_runs=_whole(file, "monitoring.watch_runs", body.get("watch_runs", DEFAULT_WATCH_RUNS), 1),
        interval_minutes=_whole(file, "monitoring.interval_minutes",
                                body.get("interval_minutes", DEFAULT_INTERVAL_MINUTES), 1),
        file=file)


def _tighten(doc: LayerDoc, raw: Any, params: dict[str, dict[str, float]], classes: frozenset[RiskClass],
             watch: int) -> tuple[frozenset[RiskClass], int]:
    """Apply a lower layer to ``params`` in place; the tightened risk classes and watch runs."""
    file = doc.file
    body = _mapping(file, "monitoring", raw, _LOWER_SECTION)
    if "risk_classes" in body:
        wanted = _classes(file, "monitoring.risk_classes", body["risk_classes"])
        for extra in sorted(c.value for c in wanted - classes):
            raise PolicyLoosening(file, "monitoring.risk_classes", f"may only remove risk classes, not add {extra!r}")
        classes = wanted
    if "watch_runs" in body:
        wanted_watch = _whole(file, "monitoring.watch_runs", body["watch_runs"], 1)
        if wanted_watch > watch:
            raise PolicyLoosening(file, "monitoring.watch_runs", f"may only lower it (above: {watch})")
        watch = wanted_watch
    for kind, spec in _mapping(file, "monitoring.detectors", body.get("detectors") or {},
                               frozenset(DETECTOR_KINDS)).items():
        key = f"monitoring.detectors.{kind}"
        spec = _mapping(file, key, spec, _LOWER_DETECTOR)
        if kind not in params:
            raise PolicyError(file, key, "this detector is not enabled in enterprise.yaml")
        for name, value in _mapping(file, f"{key}.params", spec.get("params") or {},
                                    frozenset(DEFAULT_PARAMS[kind])).items():
            number, above = _number(file, f"{key}.params.{name}", value), params[kind][name]
            raise_ok = name in RAISE_TIGHTENS
            if (number < above) if raise_ok else (number > above):
                direction = "raise" if raise_ok else "lower"
                raise PolicyLoosening(file, f"{key}.params.{name}", f"may only {direction} it (above: {above:g})")
            params[kind][name] = number
    return classes, watch
