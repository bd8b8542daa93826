"""``jidoka_model_*`` metrics: each model's fallback, refusal and correction rates and its drift alerts.

Read from the audit log at scrape time (:mod:`guardrails.model_health`), so every worker reports the same
figures for the whole deployment; a read is reused for ``cache_s`` seconds so frequent scrapes stay cheap.
An alert gauge is 1 while a rate is above its ``models.drift`` threshold: point an alerting rule at
``jidoka_model_drift_alert == 1``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from guardrails.audit.log import AuditLog
from guardrails.errors import AuditError
from guardrails.model_health import ModelHealth, drift_alerts, read_model_health
from guardrails.policy.model_drift import DRIFT_MEASURES, DriftThresholds

__all__ = ["ModelHealthCollector", "ModelWatch"]


@dataclass(frozen=True)
class ModelWatch:
    """What the collector reads: the audit log and the policy's drift thresholds."""

    audit: AuditLog
    thresholds: DriftThresholds


class ModelHealthCollector(Collector):
    """The model-health gauges, computed from the audit log (nothing until :attr:`watch` is given)."""

    def __init__(self, *, cache_s: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.watch: ModelWatch | None = None
        self._cache_s = cache_s
        self._clock = clock
        self._read: tuple[float, dict[str, ModelHealth]] | None = None

    def _health(self, watch: ModelWatch) -> dict[str, ModelHealth]:
        now = self._clock()
        if self._read is None or now - self._read[0] >= self._cache_s:
            try:
                self._read = (now, read_model_health(watch.audit, window_turns=watch.thresholds.window_turns))
            except AuditError:
                return {}  # no audit table yet: nothing to report (a broken database shows on /readyz)
        return self._read[1]

    def collect(self) -> Iterator[Metric]:
        turns = GaugeMetricFamily("jidoka_model_window_turns", "Turns of each model in the drift window "
                                  "(its newest, at most models.drift.window_turns).", labels=["model"])
        rates = GaugeMetricFamily("jidoka_model_rate", "Share of a model's window turns with a fallback, a refused "
                                  "or malformed tool call, or a grounding correction.", labels=["model", "measure"])
        alerts = GaugeMetricFamily("jidoka_model_drift_alert", "1 while a rate is above its models.drift threshold "
                                   "(with at least min_turns turns in the window).", labels=["model", "measure"])
        limits = GaugeMetricFamily("jidoka_model_drift_threshold", "The policy's models.drift.max_<measure>_rate.",
                                   labels=["measure"])
        watch = self.watch
        if watch is not None:
            health = self._health(watch)
            raised = {(a.model, a.measure) for a in drift_alerts(health, watch.thresholds)}
            for model, h in health.items():
                turns.add_metric([model], h.turns)
                for measure in DRIFT_MEASURES:
                    rates.add_metric([model, measure], h.rate(measure))
                    alerts.add_metric([model, measure], 1.0 if (model, measure) in raised else 0.0)
            for measure in DRIFT_MEASURES:
                limits.add_metric([measure], watch.thresholds.limit(measure))
        yield from (turns, rates, alerts, limits)
