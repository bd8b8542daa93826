"""The rich console summary of an eval report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.monitoring.suite import COUNT_METRICS
from evals.report import Report

__all__ = ["print_summary"]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _measured(suite: str, metric: str, value: float | None) -> str:
    if suite == "monitoring" and metric in COUNT_METRICS:
        return "—" if value is None else f"{value:g}"
    return _pct(value)


def _print_monitoring(monitoring: dict[str, Any], console: Console) -> None:
    table = Table(title=f"monitoring — {len(monitoring.get('plants', []))} plants in {monitoring.get('seconds')} s")
    for col in ("metric", "n/N", "measured"):
        table.add_column(col)
    for name, m in monitoring.get("metrics", {}).items():
        table.add_row(name, f"{m['n']}/{m['N']}", _measured("monitoring", name, m["value"]))
    console.print(table)
    for plant in monitoring.get("plants", []):
        kind = "scenarios" if plant["scenarios"] else "clean"
        console.print(f"seed {plant['seed']} {kind}: {plant['signals']} signals, {plant['requests']} requests, "
                      f"{plant['seconds']} s", highlight=False)
        for failure in plant["failures"][:20]:
            console.print(f"  [red]FAIL[/red] {escape(failure[:300])}", highlight=False)


def print_summary(report: Report, console: Console) -> None:
    """Metrics with intervals, thresholds, containment attempts by kind and the failed cases."""
    if report.cases or not report.monitoring:
        table = Table(title=f"jidoka eval — model {report.model}, suites {', '.join(report.suites)}")
        for col in ("metric", "n/N", "rate", "95% CI"):
            table.add_column(col)
        for name, m in report.metrics.items():
            ci = "—" if m.ci_low is None else f"{_pct(m.ci_low)}–{_pct(m.ci_high)}"
            table.add_row(name, f"{m.n}/{m.N}", _pct(m.rate), ci)
        console.print(table)
    if report.monitoring:
        _print_monitoring(report.monitoring, console)
    if report.containment:
        kinds = Table(title=f"containment: {report.containment.get('attempts', 0)} attempts by kind")
        for col in ("kind", "attempts", "refused", "pending", "contained", "leaked", "unapproved"):
            kinds.add_column(col)
        for kind, t in report.containment.get("by_kind", {}).items():
            kinds.add_row(kind, *(str(t.get(k, 0)) for k in ("attempts", "refused", "pending", "contained",
                                                              "leaked", "unapproved")))
        console.print(kinds)
    for t in report.thresholds:
        mark = "[green]ok[/green]" if t.ok else "[red]MISSED[/red]"
        console.print(f"{mark} {t.suite}: {t.metric} {t.op} {t.value:g} (measured "
                      f"{_measured(t.suite, t.metric, t.rate)}, {t.n}/{t.N})",
                      highlight=False)
    for s in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(s['suite'] + '/' + s['case'])} ({s['user']}): "
                      f"{escape(s['reason'])}", highlight=False)
    failed = [c for c in report.cases if not c.passed and not c.skipped]
    for c in failed[:40]:
        detail = escape(f"{c.suite}/{c.case_id} {c.user} trace {','.join(c.trace_ids[:2])}: "
                        f"{'; '.join(c.failures)[:300]}")
        console.print(f"[red]FAIL[/red] {detail}", highlight=False)
    console.print(f"{sum(c.passed for c in report.cases)}/{len(report.cases)} case runs passed; "
                  f"{'all thresholds hold' if report.ok else 'THRESHOLDS MISSED'}")
