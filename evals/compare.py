"""Two models on the same suites, side by side: which metrics and which cases differ.

``jidoka eval compare --model openai:<m>`` runs the suites with the configured model and with the baseline
(the offline ``rules`` model by default) on the same plant copy, then reports both metric tables next to each
other and every case whose outcome differs — what to look at before switching a plant to another model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.metrics import MetricValue
from evals.report import Report

__all__ = ["CaseDiff", "Comparison", "compare_reports", "print_comparison"]


class CaseDiff(BaseModel):
    """One (suite, case, user, repeat) run that passed under one model and failed under the other."""

    suite: str
    case_id: str
    user: str
    repeat: int = 0
    baseline_passed: bool
    candidate_passed: bool
    baseline_failures: list[str] = Field(default_factory=list)
    candidate_failures: list[str] = Field(default_factory=list)
    baseline_tools: list[str] = Field(default_factory=list)
    """Tool names the baseline called, in order (the quickest clue to why two models differ)."""
    candidate_tools: list[str] = Field(default_factory=list)


class Comparison(BaseModel):
    """Both reports and what differs between them."""

    baseline: Report
    candidate: Report
    metrics: dict[str, dict[str, MetricValue | None]] = Field(default_factory=dict)
    """Metric name → ``{"baseline": …, "candidate": …}`` (``None`` where one report lacks the metric)."""
    differing: list[CaseDiff] = Field(default_factory=list)
    only_in_one: list[str] = Field(default_factory=list)
    """Case runs present in one report only (a case skipped under one model, e.g. no knowledge index)."""

    @property
    def exit_code(self) -> int:
        """The candidate's exit code: 0 when its thresholds hold (the comparison itself never fails a run)."""
        return self.candidate.exit_code

    def to_json(self) -> dict[str, Any]:
        """The JSON document: both reports in full, the metric pairs and the differing cases."""
        return self.model_dump(mode="json")

    def write_json(self, path: Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")


def _runs(report: Report) -> dict[tuple[str, str, str, int], Any]:
    return {(c.suite, c.case_id, c.user, c.repeat): c for c in report.cases if not c.skipped}


def _tools(case: Any) -> list[str]:
    return [str(call.get("name", "?")) for call in case.tool_calls]


def compare_reports(baseline: Report, candidate: Report) -> Comparison:
    """What differs between ``baseline`` and ``candidate`` (two runs of the same suites)."""
    names = list(dict.fromkeys([*baseline.metrics, *candidate.metrics]))
    metrics = {n: {"baseline": baseline.metrics.get(n), "candidate": candidate.metrics.get(n)} for n in names}
    ours, theirs = _runs(baseline), _runs(candidate)
    differing = []
    for key in sorted(ours.keys() & theirs.keys()):
        a, b = ours[key], theirs[key]
        if a.passed != b.passed:
            differing.append(CaseDiff(suite=key[0], case_id=key[1], user=key[2], repeat=key[3],
                                      baseline_passed=a.passed, candidate_passed=b.passed,
                                      baseline_failures=a.failures, candidate_failures=b.failures,
                                      baseline_tools=_tools(a), candidate_tools=_tools(b)))
    only = sorted("/".join((k[0], k[1], k[2], str(k[3]))) for k in ours.keys() ^ theirs.keys())
    return Comparison(baseline=baseline, candidate=candidate, metrics=metrics, differing=differing, only_in_one=only)


def _pct(value: MetricValue | None) -> str:
    if value is None or value.rate is None:
        return "—"
    return f"{value.rate * 100:.1f}% ({value.n}/{value.N})"


def print_comparison(comparison: Comparison, console: Console) -> None:
    """The metric table side by side, then every case whose outcome differs."""
    base, cand = comparison.baseline.model, comparison.candidate.model
    table = Table(title=f"jidoka eval compare — {base} vs {cand}, suites {', '.join(comparison.candidate.suites)}")
    for col in ("metric", base, cand):
        table.add_column(col)
    for name, pair in comparison.metrics.items():
        table.add_row(name, _pct(pair["baseline"]), _pct(pair["candidate"]))
    console.print(table)
    for diff in comparison.differing:
        better = cand if diff.candidate_passed else base
        failures = diff.baseline_failures if diff.candidate_passed else diff.candidate_failures
        console.print(escape(f"{diff.suite}/{diff.case_id} {diff.user}: only {better} passed; "
                             f"{base} called {diff.baseline_tools or 'no tool'}, {cand} called "
                             f"{diff.candidate_tools or 'no tool'}; {'; '.join(failures)[:240]}"), highlight=False)
    for run in comparison.only_in_one:
        console.print(escape(f"{run}: ran under one model only"), highlight=False)
    counts = [f"{r.model}: {sum(c.passed for c in runs.values())}/{len(runs)} case runs passed"
              for r in (comparison.baseline, comparison.candidate) for runs in (_runs(r),)]
    console.print(f"{'; '.join(counts)}; {len(comparison.differing)} differ")
