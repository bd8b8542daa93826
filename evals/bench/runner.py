"""Runs the benchmark sections and collects figures with the conditions they were measured under.

A section whose dependency is missing here (no pycasbin, no server app, no knowledge
base…) raises :class:`SectionUnavailable`; its figures are reported as null with the
reason — never a made-up number. A section that fails unexpectedly is reported the same
way, with the error as the reason.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.bench.figures import (
    REQUIRED_KEYS,
    BenchContext,
    BenchFigure,
    SectionUnavailable,
    load_average,
    machine_info,
)
from evals.bench.sections import (
    accuracy_section,
    audit_section,
    casbin_section,
    chat_section,
    checkpoint_section,
    gate_section,
    retrieval_section,
    scale_section,
    turn_section,
)

if TYPE_CHECKING:
    from server.runtime import RuntimeFactory

__all__ = ["SECTIONS", "BenchContext", "Section", "run_benchmarks"]


@dataclass(frozen=True)
class Section:
    """A group of figures measured together; ``keys`` are reported as null when it cannot run."""

    name: str
    run: Callable[[BenchContext], list[BenchFigure]]
    keys: tuple[str, ...]


SECTIONS: tuple[Section, ...] = (
    Section("gate", gate_section, ("policy_decision_p50_us", "policy_decision_p99_us",
                                   "policy_decision_1000_rules_p50_us", "policy_decision_1000_rules_p99_us")),
    Section("pycasbin", casbin_section, ("pycasbin_rbac_p50_us", "policy_vs_pycasbin")),
    Section("audit", audit_section, ("audit_append_per_s", "audit_verify_per_s", "audit_verify_cpu_per_s",
                                     *(f"audit_16x12_{mode}_{figure}" for mode in ("group", "per_turn")
                                       for figure in ("commits_per_s", "events_per_commit", "events_per_s")))),
    Section("turn", turn_section, ("governed_turn_ratio", "governance_cpu_ms_per_turn")),
    Section("checkpoint", checkpoint_section, ("checkpoint_bytes_per_turn_first_20",
                                               "checkpoint_bytes_per_turn_last_20",
                                               "checkpoint_bytes_vs_raw_messages")),
    Section("retrieval", retrieval_section, ("retrieval_p50_ms", "embed_query_p50_ms", "retrieval_recall_at_5")),
    Section("chat", chat_section, ("chat_turns_per_s", "chat_p99_ms", "chat_turns_per_s_2_workers",
                                   "chat_p99_ms_2_workers", "chat_server_cpu_ms_per_turn",
                                   "chat_client_cpu_ms_per_turn", "server_rss_mib_idle",
                                   "server_rss_mib_after_1000_turns")),
    Section("scale", scale_section, ("scale_turns_per_s_1w", "scale_p99_ms_1w", "scale_turns_per_s_2w",
                                     "scale_p99_ms_2w")),
    Section("accuracy", accuracy_section, ("rules_model_accuracy",)),
)


def _run_section(section: Section, ctx: BenchContext) -> tuple[list[BenchFigure], float]:
    start = time.perf_counter()
    try:
        figures = section.run(ctx)
    except SectionUnavailable as exc:
        figures = [BenchFigure.missing(key, str(exc)) for key in section.keys]
    except Exception as exc:  # report, never crash the whole run or invent a number
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"{section.name} failed: {type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
        figures = [BenchFigure.missing(key, reason) for key in section.keys]
    produced = {f.key for f in figures}
    figures += [BenchFigure.missing(key, f"the {section.name} section did not produce it")
                for key in section.keys if key not in produced]
    return figures, time.perf_counter() - start


def _prefixed(say: Callable[[str], None], name: str) -> Callable[[str], None]:
    def progress(message: str) -> None:
        say(f"{name}: {message}")
    return progress


def run_benchmarks(*, quick: bool = False, only: list[str] | None = None,
                   progress: Callable[[str], None] | None = None,
                   sections: tuple[Section, ...] = SECTIONS, factory: RuntimeFactory | None = None) -> dict[str, Any]:
    """Run the benchmark sections and return the JSON report (figures keyed at top level).

    Every key of :data:`REQUIRED_KEYS` is present: a number, or null with its reason under ``missing``.
    ``factory`` makes the runtimes and copilots measured; without it, the sections that need one are null.
    """
    known = {s.name for s in sections}
    unknown = sorted(set(only or ()) - known)
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(s.name for s in sections)}")
    say = progress or (lambda _message: None)
    machine = machine_info()
    figures: list[BenchFigure] = []
    timings: dict[str, float] = {}
    loads: dict[str, list[float] | None] = {}
    shared: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jidoka-bench-") as tmp:
        for section in sections:
            if only and section.name not in only:
                continue
            say(section.name)
            loads[section.name] = load_average()
            folder = Path(tmp) / section.name
            folder.mkdir()
            ctx = BenchContext(quick=quick, tmp=folder, progress=_prefixed(say, section.name),
                               shared=shared, factory=factory)
            produced, seconds = _run_section(section, ctx)
            figures += produced
            timings[section.name] = round(seconds, 1)
    skipped = "not run (--only)"
    have = {f.key for f in figures}
    figures += [BenchFigure.missing(key, skipped) for key in REQUIRED_KEYS if key not in have]
    report: dict[str, Any] = {f.key: (None if f.value is None else round(f.value, 4)) for f in figures}
    report["missing"] = {f.key: f.reason for f in figures if f.value is None}
    report["goals"] = {f.key: {"goal": f.goal, "met": f.met} for f in figures if f.goal}
    report["figures"] = [{**asdict(f), "met": f.met} for f in figures]
    report["machine"] = machine
    report["section_seconds"] = timings
    # The machine is shared: the load when each section started and at the end says how quiet each figure's run was.
    report["section_load_average_at_start"] = loads
    machine["load_average_at_end"] = load_average()
    report["quick"] = quick
    report["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return report
