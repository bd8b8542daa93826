"""The eval report: a stable JSON schema, threshold results and the exit status CI gates on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from evals.metrics import MetricValue
from evals.outcome import CaseOutcome

__all__ = ["REPORT_SCHEMA_VERSION", "Report", "ThresholdResult"]

REPORT_SCHEMA_VERSION = 1


class ThresholdResult(BaseModel):
    """One suite threshold and whether the measured rate meets it."""

    suite: str
    metric: str
    op: str
    value: float
    rate: float | None
    n: int
    N: int
    ok: bool


class Report(BaseModel):
    """Everything one ``jidoka eval run`` measured."""

    schema_version: int = REPORT_SCHEMA_VERSION
    model: str
    policy_hash: str
    started_at: str
    finished_at: str
    suites: list[str]
    repeat: int = 1
    metrics: dict[str, MetricValue]
    splits: dict[str, dict[str, dict[str, MetricValue]]] = Field(default_factory=dict)
    thresholds: list[ThresholdResult] = Field(default_factory=list)
    cases: list[CaseOutcome] = Field(default_factory=list)
    containment: dict[str, Any] = Field(default_factory=dict)
    """``--model adversarial``: attempts by kind and their outcomes."""
    skipped: list[dict[str, str]] = Field(default_factory=list)
    monitoring: dict[str, Any] = Field(default_factory=dict)
    """The ``monitoring`` suite's report (:class:`evals.monitoring.MonitoringReport` as JSON) when it ran."""

    @property
    def ok(self) -> bool:
        """True when every threshold holds."""
        return all(t.ok for t in self.thresholds)

    @property
    def exit_code(self) -> int:
        """0 when every threshold holds, 1 otherwise (CI gates on it)."""
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        """The JSON document (stable keys)."""
        return self.model_dump(mode="json")

    def write_json(self, path: Path) -> None:
        """Write the JSON report to ``path``."""
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
