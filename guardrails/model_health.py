"""Model health from the audit log: fallback, refusal and correction rates over a model's newest turns.

The rates are read from the audit events every turn already writes, so they are right across processes and
workers and can be recomputed later for any window. Per turn (one trace with an ``answer`` event), attributed to
the model of the turn's first ``model_request`` (turns refused at input screening never reach a model and are not
counted):

- **fallback**: a ``degraded`` event — the model failed (error, timeout, step limit, unusable reply) and the rules
  model answered instead;
- **refusal**: the model proposed a tool call the gate denied, or one it was not offered or that was malformed
  (a ``model_response`` marked ``invalid``) — the model asked for something it may not have;
- **correction**: grounding removed at least one unsupported figure from the answer (``unverified`` not empty).

Alerts compare each rate with the policy's ``models.drift`` thresholds (:mod:`guardrails.policy.model_drift`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.audit.log import AuditKind, AuditLog, AuditRecord
from guardrails.policy.model_drift import DRIFT_MEASURES, DriftThresholds

__all__ = ["DriftAlert", "ModelHealth", "drift_alerts", "model_health", "read_model_health"]

_READ = frozenset({AuditKind.MODEL_REQUEST, AuditKind.MODEL_RESPONSE, AuditKind.GATE_DECISION, AuditKind.DEGRADED,
                   AuditKind.ANSWER})
_EVENTS_PER_TURN = 12
"""First guess of the events of those kinds per turn, to size the first read (more are read when it falls short)."""


@dataclass(frozen=True)
class ModelHealth:
    """One model's counts over its newest turns in the window."""

    model: str
    """The policy's model id (``rules``, ``openai:<model>``)."""
    turns: int
    fallback: int
    refusal: int
    correction: int

    def rate(self, measure: str) -> float:
        """The share of turns with ``measure`` (0 when there are no turns)."""
        if measure not in DRIFT_MEASURES:
            raise ValueError(f"unknown drift measure {measure!r}; known: {', '.join(DRIFT_MEASURES)}")
        count: int = getattr(self, measure)
        return count / self.turns if self.turns else 0.0


@dataclass(frozen=True)
class DriftAlert:
    """A rate above its threshold."""

    model: str
    measure: str
    rate: float
    threshold: float
    turns: int
    decided_in: str
    """The policy file that set the threshold."""

    def describe(self) -> str:
        """One line for people."""
        return (f"{self.model}: {self.measure} rate {self.rate:.1%} over its last {self.turns} turns is above "
                f"{self.threshold:.1%} (models.drift.max_{self.measure}_rate, {self.decided_in})")


def _model_id(identity: Any) -> str:
    if not isinstance(identity, Mapping):
        return "unknown"
    provider, name = str(identity.get("provider", "unknown")), str(identity.get("model", "unknown"))
    return "rules" if provider == "rules" else f"{provider}:{name}"


def model_health(records: Iterable[AuditRecord], *, window_turns: int) -> dict[str, ModelHealth]:
    """Health per model over the newest ``window_turns`` turns of each, from ``records`` (any order; records of
    other kinds are ignored)."""
    traces: dict[str, list[AuditRecord]] = {}
    for record in records:
        if record.kind in _READ:
            traces.setdefault(record.trace_id, []).append(record)
    turns: dict[str, list[tuple[int, bool, bool, bool]]] = {}
    for events in traces.values():
        events.sort(key=lambda r: r.seq)
        answers = [r for r in events if r.kind == AuditKind.ANSWER]
        first = next((r for r in events if r.kind == AuditKind.MODEL_REQUEST), None)
        if not answers or first is None:
            continue
        fallback = any(r.kind == AuditKind.DEGRADED for r in events)
        refusal = any((r.kind == AuditKind.GATE_DECISION and r.payload.get("effect") == "deny")
                      or (r.kind == AuditKind.MODEL_RESPONSE and r.payload.get("invalid")) for r in events)
        correction = any(bool(r.payload.get("unverified")) for r in answers)
        turns.setdefault(_model_id(first.payload.get("model")), []).append(
            (answers[-1].seq, fallback, refusal, correction))
    health = {}
    for model, rows in turns.items():
        newest = sorted(rows, reverse=True)[:window_turns]
        health[model] = ModelHealth(model=model, turns=len(newest), fallback=sum(r[1] for r in newest),
                                    refusal=sum(r[2] for r in newest), correction=sum(r[3] for r in newest))
    return dict(sorted(health.items()))


def read_model_health(audit: AuditLog, *, window_turns: int) -> dict[str, ModelHealth]:
    """:func:`model_health` over the newest turns in ``audit``: reads newest events of the kinds it needs until
    every model seen has ``window_turns`` turns or the log is exhausted (at most about 16× the first read)."""
    without = [kind for kind in AuditKind if kind not in _READ]
    wanted = max(1, window_turns) * _EVENTS_PER_TURN
    for _ in range(5):
        records = audit.tail(wanted, without=without)
        health = model_health(records, window_turns=window_turns)
        if len(records) < wanted or all(h.turns >= window_turns for h in health.values()):
            return health
        wanted *= 2
    return health


def drift_alerts(health: Mapping[str, ModelHealth], thresholds: DriftThresholds) -> list[DriftAlert]:
    """The rates above their thresholds, for models with at least ``min_turns`` turns in the window."""
    alerts = []
    for model, h in health.items():
        if h.turns < thresholds.min_turns:
            continue
        for measure in DRIFT_MEASURES:
            limit = thresholds.limit(measure)
            if h.rate(measure) > limit:
                alerts.append(DriftAlert(model, measure, h.rate(measure), limit, h.turns,
                                         thresholds.source(f"max_{measure}_rate")))
    return alerts
