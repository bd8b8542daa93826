"""Running the monitoring suite: build each seed's plant (with and without scenarios), run the monitor through a
real runtime, score detection and governance, and gate on the suite's thresholds."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from evals.monitoring.detection import Detection, score_detection
from evals.monitoring.governance import Tally, approve_pending, check_responses, check_routing, check_unapproved
from evals.monitoring.suite import COUNT_METRICS, MONITORING_METRICS, MonitoringSuite, load_monitoring_suite
from evals.report import ThresholdResult
from tools.demo import build_plant
from tools.demo.manifest import read_manifest
from tools.plant.db import make_engine

if TYPE_CHECKING:
    from server.runtime import Runtime, RuntimeFactory

__all__ = ["MonitoringMetric", "MonitoringReport", "PlantResult", "run_monitoring"]


class MonitoringMetric(BaseModel):
    """``n`` of ``N`` and the measured value: the rate (``None`` when N = 0) or, for a count metric, the count."""

    n: int
    N: int
    value: float | None


class PlantResult(BaseModel):
    """What one plant measured."""

    seed: int
    scenarios: bool
    seconds: float
    signals: int
    requests: int = 0
    detection: dict[str, Any] = Field(default_factory=dict)
    failures: list[str] = Field(default_factory=list)


class MonitoringReport(BaseModel):
    """The monitoring suite's report (``jidoka eval run monitoring``; its thresholds join the eval report's)."""

    suite: str
    policy_hash: str
    started_at: str
    seconds: float
    metrics: dict[str, MonitoringMetric]
    thresholds: list[ThresholdResult]
    plants: list[PlantResult]

    @property
    def ok(self) -> bool:
        """True when every threshold holds."""
        return all(t.ok for t in self.thresholds)


class _Totals:
    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {m: [0, 0] for m in MONITORING_METRICS}

    def add(self, metric: str, n: int, total: int) -> None:
        self.counts[metric][0] += n
        self.counts[metric][1] += total

    def metric(self, name: str) -> MonitoringMetric:
        n, total = self.counts[name]
        if name in COUNT_METRICS:
            return MonitoringMetric(n=n, N=total, value=float(n) if total else None)
        return MonitoringMetric(n=n, N=total, value=round(n / total, 6) if total else None)


def _plant(folder: Path, seed: int, scenarios: bool, suite: MonitoringSuite, factory: RuntimeFactory) -> Runtime:
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{folder / 'plant.db'}")
    try:
        build_plant(engine, seed=seed, today=suite.today, manifest_dir=folder, scenarios=scenarios)
    finally:
        engine.dispose()
    return factory.runtime(folder, today=suite.today)


def _detection_json(d: Detection) -> dict[str, Any]:
    return {"expected": d.expected, "found": d.found, "missed": list(d.missed), "signals": d.signals,
            "scenario_hits": d.scenario_hits, "exception_hits": d.exception_hits, "unexplained": list(d.unexplained),
            "by_scenario": d.by_scenario}


def _full(runtime: Runtime, suite: MonitoringSuite, manifest: dict[str, Any], totals: _Totals,
          result: PlantResult) -> None:
    monitor = runtime.monitor
    if monitor is None:
        result.failures.append("the runtime has no monitor")
        return
    summary = monitor.run()
    result.failures += [f"detector failed: {e}" for e in summary.errors]
    signals = monitor.store.signals()
    result.signals, result.requests = len(signals), len(summary.proposed)
    detection = score_detection(suite, manifest, signals)
    result.detection = _detection_json(detection)
    totals.add("detection_recall", detection.found, detection.expected)
    totals.add("detection_precision", detection.true_positives, detection.signals)
    totals.add("detection_precision_scenarios_only", detection.scenario_hits, detection.signals)
    checks: list[tuple[str, Tally]] = [("routing", check_routing(runtime, suite, signals))]
    responses, declined = check_responses(runtime, suite)
    checks.append(("overrides_audited", responses))
    if suite.approve_pending:
        approve_pending(runtime)
        monitor.run()
    unapproved = check_unapproved(runtime, declined)
    totals.add("unapproved_actions", unapproved.N - unapproved.n, unapproved.N)
    for metric, tally in checks:
        totals.add(metric, tally.n, tally.N)
    for metric, tally in [*checks, ("unapproved_actions", unapproved)]:
        result.failures += [f"{metric}: {f}" for f in tally.failures]
    result.failures += [f"missed {m}" for m in detection.missed]
    result.failures += [f"unexplained signal {u}" for u in detection.unexplained]


def run_monitoring(factory: RuntimeFactory, *, suite: MonitoringSuite | None = None,
                   workdir: Path | None = None) -> MonitoringReport:
    """Run the monitoring suite (default: the shipped ``monitoring.yaml``) on plants built in a temporary folder."""
    suite = suite or load_monitoring_suite()
    started, clock = datetime.now(UTC).isoformat(timespec="seconds"), time.perf_counter()
    totals, plants, policy_hash = _Totals(), [], ""
    with tempfile.TemporaryDirectory(prefix="jidoka-monitoring-", dir=workdir) as tmp:
        for seed in suite.seeds:
            for scenarios in ((True, False) if suite.clean_plants else (True,)):
                began = time.perf_counter()
                folder = Path(tmp) / f"{seed}-{'full' if scenarios else 'clean'}"
                runtime = _plant(folder, seed, scenarios, suite, factory)
                result = PlantResult(seed=seed, scenarios=scenarios, seconds=0.0, signals=0)
                try:
                    policy_hash = runtime.policy.hash
                    if scenarios:
                        _full(runtime, suite, read_manifest(folder), totals, result)
                    elif runtime.monitor is not None:
                        runtime.monitor.run()
                        signals = runtime.monitor.store.signals()
                        result.signals = len(signals)
                        totals.add("clean_false_positives", len(signals), 1)
                        result.failures += [f"false positive {s.signal_id} {s.detector} {s.site_id}: {s.title}"
                                            for s in signals]
                finally:
                    runtime.close()
                result.seconds = round(time.perf_counter() - began, 2)
                plants.append(result)
    metrics = {name: totals.metric(name) for name in MONITORING_METRICS}
    thresholds = [ThresholdResult(suite=suite.suite, metric=t.metric, op=t.op, value=t.value,
                                  rate=metrics[t.metric].value, n=metrics[t.metric].n, N=metrics[t.metric].N,
                                  ok=t.holds(metrics[t.metric].value)) for t in suite.thresholds]
    return MonitoringReport(suite=suite.suite, policy_hash=policy_hash, started_at=started,
                            seconds=round(time.perf_counter() - clock, 2), metrics=metrics, thresholds=thresholds,
                            plants=plants)
