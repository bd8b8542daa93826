"""Runs the benchmarks and collects figures with the conditions they were measured under."""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from guardrails.audit import measure_append_throughput, measure_verify_throughput
from guardrails.policy import load_policy
from tools import default_catalog, make_engine

__all__ = ["BenchFigure", "machine_info", "run_benchmarks"]


@dataclass(frozen=True)
class BenchFigure:
    """One measured number."""

    key: str
    """Top-level JSON key (stable across releases)."""
    value: float
    unit: str
    goal: str
    """The target, e.g. ``<= 5``; empty when there is none."""
    conditions: str


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def _gate(quick: bool, tmp: Path) -> list[BenchFigure]:
    from evals.bench.gate import gate_latency, large_policy

    catalog = default_catalog()
    n = 5000 if quick else 50000
    default = load_policy()
    big = large_policy(tmp / "policy-1000", catalog, rules=1000)
    figures = []
    for label, policy, rules in (("", default, "default policy"), ("_1000_rules", big, "1,000-rule policy")):
        p50, p99 = gate_latency(policy, catalog, n=n)
        c50, c99 = gate_latency(policy, catalog, n=n // 5, cache=False)
        cond = f"{rules}, {n:,} mixed calls (30 % name a PO, 20 % a site), warm per-(user, tool) cache"
        cold = f"{rules}, per-(user, tool) part recomputed on every call"
        figures += [
            BenchFigure(f"policy_decision{label}_p50_us", p50, "µs", "<= 5", cond),
            BenchFigure(f"policy_decision{label}_p99_us", p99, "µs", "", cond),
            BenchFigure(f"policy_decision{label}_uncached_p50_us", c50, "µs", "", cold),
            BenchFigure(f"policy_decision{label}_uncached_p99_us", c99, "µs", "", cold),
        ]
    return figures


def _audit(quick: bool, tmp: Path) -> list[BenchFigure]:
    events = 5000 if quick else 50000
    figures = []
    for batch in (10, 100, 1000):
        engine = make_engine(f"sqlite:///{tmp / f'audit-{batch}.db'}")
        rate = measure_append_throughput(engine, events=events, batch=batch)
        key = "audit_append_per_s" if batch == 100 else f"audit_append_batch{batch}_per_s"
        conditions = f"SQLite WAL, synchronous=FULL, {events:,} events in batches of {batch}, chain kept"
        figures.append(BenchFigure(key, rate, "events/s", ">= 20000" if batch == 100 else "", conditions))
        if batch == 100:
            figures.append(BenchFigure("audit_verify_per_s", measure_verify_throughput(engine), "events/s", "",
                                       f"full chain walk over {events:,} events"))
        engine.dispose()
    return figures


def _turn(quick: bool, tmp: Path) -> list[BenchFigure]:
    from evals.bench.turn import turn_cpu
    from server.settings import DEFAULT_TODAY
    from tools.demo import build_plant

    plant_url = f"sqlite:///{tmp / 'bench-plant.db'}"
    engine = make_engine(plant_url)
    build_plant(engine, seed=42, today=DEFAULT_TODAY)
    engine.dispose()
    turns = 12 if quick else 80
    figures = turn_cpu(plant_url, tmp, DEFAULT_TODAY, turns=turns)
    cond = (f"{turns} turns, each a fresh thread: scripted model → 1 read tool → answer; SQLite checkpointer; "
            "bare = langgraph.prebuilt.create_react_agent with the same model and tools, no governance")
    return [
        BenchFigure("governed_turn_ratio", figures["governed_turn_ratio"], "×", "<= 1.4", cond),
        BenchFigure("governance_cpu_ms_per_turn", figures["governance_cpu_ms_per_turn"], "ms", "<= 1",
                    "gate, screening (input, data, output), spotlighting, grounding and audit writes, CPU only"),
        BenchFigure("governed_turn_cpu_ms", figures["governed_turn_cpu_ms"], "ms", "", cond),
        BenchFigure("bare_turn_cpu_ms", figures["bare_turn_cpu_ms"], "ms", "", cond),
    ]


SECTIONS: dict[str, Callable[[bool, Path], list[BenchFigure]]] = {"gate": _gate, "audit": _audit, "turn": _turn}


def run_benchmarks(*, quick: bool = False, only: list[str] | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark sections and return the JSON report (figures keyed at top level)."""
    figures: list[BenchFigure] = []
    with tempfile.TemporaryDirectory(prefix="jidoka-bench-") as tmp:
        for name, section in SECTIONS.items():
            if only and name not in only:
                continue
            if progress:
                progress(name)
            figures += section(quick, Path(tmp))
    report: dict[str, Any] = {f.key: round(f.value, 3) for f in figures}
    report["figures"] = [asdict(f) for f in figures]
    report["machine"] = machine_info()
    report["quick"] = quick
    report["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return report
