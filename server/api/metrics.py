"""Prometheus metrics of one app, on its own registry (no process-global state).

The counters are fed from what a turn already produces — the :class:`TurnResult`
and the turn's audit events (gate decisions by effect, screening findings, and
tool latency as the time between a gate decision and its tool result) — so
nothing inside the guardrails is instrumented. Approval requests by status are
read from the approval store at scrape time, so they are right across processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from agent.copilot import TurnResult
from guardrails.approvals.models import RequestStatus
from guardrails.audit.log import AuditKind, AuditRecord
from server.api.model_metrics import ModelHealthCollector, ModelWatch

__all__ = ["CONTENT_TYPE", "ApiMetrics", "StatusCounter"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BY_STATUS = text("SELECT status, COUNT(*) FROM approval_requests GROUP BY status")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _ApprovalsByStatus(Collector):
    """``jidoka_approval_requests{status}``: requests in the state database by status, read at scrape time."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("jidoka_approval_requests", "Approval requests by status.", labels=["status"])
        counts = {s.value: 0 for s in RequestStatus}
        engine = self._engine()
        if engine is not None:
            try:
                with engine.connect() as conn:
                    for status, n in conn.execute(_BY_STATUS):
                        counts[str(status)] = int(n)
            except SQLAlchemyError:
                pass  # no approval table yet (nothing requested): every status is 0
        for status, n in sorted(counts.items()):
            family.add_metric([status], n)
        yield family


class ApiMetrics:
    """The app's metrics and the registry they live on."""

    def __init__(self) -> None:
        self._state_engine: Engine | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.turns = Counter("jidoka_turns", "Turns answered, by outcome (answered, paused, refused, error).",
                             ["outcome"], registry=r)
        self.degraded = Counter("jidoka_degraded_turns", "Turns answered by the offline fallback model or with a "
                                "service a tool needs down.", registry=r)
        self.gate_decisions = Counter("jidoka_gate_decisions", "Gate decisions, by effect.", ["effect"], registry=r)
        self.screening_hits = Counter("jidoka_screening_hits", "Screening findings, by stage (input, output, data).",
                                      ["stage"], registry=r)
        self.approval_decisions = Counter("jidoka_approval_decisions", "Approval decisions made over the API.",
                                          ["decision"], registry=r)
        self.turn_seconds = Histogram("jidoka_turn_seconds", "Time to answer one turn (or resume one).",
                                      buckets=_LATENCY_BUCKETS, registry=r)
        self.tool_seconds = Histogram("jidoka_tool_seconds", "Time from a gate decision to its tool result.",
                                      ["tool"], buckets=_LATENCY_BUCKETS, registry=r)
        self.http_errors = Counter("jidoka_http_errors", "Requests answered with an error status.", ["status"],
                                   registry=r)
        r.register(_ApprovalsByStatus(lambda: self._state_engine))
        self.models = ModelHealthCollector()
        """Each model's fallback, refusal and correction rates and drift alerts, from the audit log."""
        r.register(self.models)

    def watch_models(self, watch: ModelWatch) -> None:
        """Report model health from ``watch.audit`` against ``watch.thresholds`` at every scrape."""
        self.models.watch = watch

    def watch_approvals(self, state_engine: Engine) -> None:
        """Read approval requests by status from ``state_engine`` at every scrape."""
        self._state_engine = state_engine

    def observe_turn(self, result: TurnResult | None, records: Sequence[AuditRecord], seconds: float,
                     *, outcome: str | None = None) -> None:
        """Count one turn from its result and the audit records it wrote."""
        if outcome is None:
            outcome = "paused" if result is not None and result.paused else "answered"
        self.turns.labels(outcome=outcome).inc()
        self.turn_seconds.observe(seconds)
        if result is not None and result.degraded:
            self.degraded.inc()
        self.observe_records(records)

    def observe_records(self, records: Iterable[AuditRecord]) -> None:
        """Gate decisions, screening hits and tool latency from a turn's audit records."""
        decided: dict[str, datetime] = {}
        for record in records:
            payload = record.payload
            if record.kind == AuditKind.GATE_DECISION:
                effect = str(payload.get("effect", "unknown"))
                self.gate_decisions.labels(effect=effect).inc()
                if effect == "allow" and isinstance(payload.get("tool"), str):
                    decided[str(payload["tool"])] = datetime.fromisoformat(record.ts)
            elif record.kind == AuditKind.SCREENING:
                findings = payload.get("findings")
                n = len(findings) if isinstance(findings, list) else 1
                if n:
                    self.screening_hits.labels(stage=str(payload.get("stage", "unknown"))).inc(n)
            elif record.kind == AuditKind.TOOL_RESULT and isinstance(payload.get("tool"), str):
                started = decided.pop(str(payload["tool"]), None)
                if started is not None:
                    elapsed = (datetime.fromisoformat(record.ts) - started).total_seconds()
                    self.tool_seconds.labels(tool=str(payload["tool"])).observe(max(0.0, elapsed))

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's registry."""
        return generate_latest(self.registry)


class StatusCounter:
    """ASGI middleware counting responses with an error status in ``jidoka_http_errors{status}``."""

    def __init__(self, app: Callable[..., Any], metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and int(message["status"]) >= 400:
                self.metrics.http_errors.labels(status=str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting)
