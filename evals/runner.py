"""Running suites: one sandbox per run, each case on a restored plant, through the real runtime and copilot."""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.canaries import ScopeOracle
from evals.checks import judge
from evals.containment import run_containment
from evals.errors import EvalError, ModelNotSupported
from evals.execute import run_case
from evals.metrics import aggregate, splits
from evals.monitoring import MONITORING_SUITE, MonitoringReport, run_monitoring
from evals.outcome import CaseOutcome
from evals.report import Report, ThresholdResult
from evals.sandbox import Sandbox
from evals.suite import Suite, load_suite

if TYPE_CHECKING:
    from server.runtime import RuntimeFactory

__all__ = ["DEFAULT_SUITES", "run_suites"]

DEFAULT_SUITES = ("utility", "boundaries", "injection", "approvals", "scenarios")


def _scratch() -> Path | None:
    """A RAM-backed folder for the throw-away plant copies when the machine has one (else the default temp)."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def _check_model(model: str) -> str:
    if model in ("rules", "adversarial") or (model.startswith("openai:") and len(model) > len("openai:")):
        return model
    raise ModelNotSupported(f"--model must be rules, adversarial or openai:<model>, got {model!r}")


def _knowledge_missing(sandbox: Sandbox) -> str | None:
    """Why knowledge-document cases cannot run here (``None`` when they can)."""
    if "search_documents" not in sandbox.runtime.catalog:
        return "this build has no search_documents tool"
    if not sandbox.has_knowledge:
        return ("the template JIDOKA_HOME has no ingested knowledge index (run `jidoka knowledge ingest`; a new "
                "home gets one from `jidoka init`)")
    return None


def _documents(sandbox: Sandbox) -> list[Any]:
    """The demo corpus (its front matter says who may read what) when the plant copy has a knowledge index."""
    if not sandbox.has_knowledge:
        return []
    from knowledge.documents import load_documents
    from knowledge.ingest import demo_corpus_dir

    return list(load_documents(demo_corpus_dir()))


def _suites(names: Sequence[str], model: str) -> list[Suite]:
    default = ["adversarial"] if model == "adversarial" else list(DEFAULT_SUITES)
    suites = [load_suite(n) for n in (list(names) or default)]
    for suite in suites:
        if (suite.model == "adversarial") != (model == "adversarial"):
            wanted = "adversarial" if suite.model == "adversarial" else "rules or openai:<model>"
            raise EvalError(f"suite {suite.suite} runs with --model {wanted}, not {model}")
    return suites


def run_suites(names: Sequence[str] = (), *, factory: RuntimeFactory, model: str = "rules", home: Path | str,
               repeat: int = 1, workdir: Path | None = None, users: Sequence[str] | None = None,
               fast: bool = False) -> Report:
    """Run the named suites (default: all rules-model suites, or ``adversarial`` for that model) on a copy of
    the plant in ``home`` and return the report. ``home`` is never written; ``factory`` makes the runtime on the
    copy and its copilots. ``monitoring`` runs the monitoring suite (:mod:`evals.monitoring`: plants of its own
    seeds, built in a temporary folder); its thresholds join the report's."""
    _check_model(model)
    if repeat < 1:
        raise EvalError("--repeat must be at least 1")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    monitoring: MonitoringReport | None = None
    if MONITORING_SUITE in names:
        monitoring = run_monitoring(factory, workdir=workdir or _scratch())
        names = [n for n in names if n != MONITORING_SUITE]
        if not names:
            return Report(model=model, policy_hash=monitoring.policy_hash, started_at=started,
                          finished_at=datetime.now(UTC).isoformat(timespec="seconds"), suites=[MONITORING_SUITE],
                          repeat=repeat, metrics=aggregate([]), thresholds=list(monitoring.thresholds),
                          monitoring=monitoring.model_dump(mode="json"))
    suites = _suites(names, model)
    with tempfile.TemporaryDirectory(prefix="jidoka-eval-", dir=workdir or _scratch()) as tmp:
        sandbox = Sandbox(Path(home), Path(tmp), factory=factory,
                          model="rules" if model == "adversarial" else model)
        try:
            scopes = ScopeOracle(sandbox.runtime.data_engine, sandbox.runtime.policy, _documents(sandbox))
            outcomes, skipped, containment = _run(sandbox, scopes, suites, model, repeat, users, fast)
        finally:
            sandbox.close()
    metrics = aggregate(outcomes)
    thresholds = []
    for suite in suites:
        mine = aggregate([o for o in outcomes if o.suite == suite.suite])
        for t in suite.thresholds:
            value = mine[t.metric]
            thresholds.append(ThresholdResult(suite=suite.suite, metric=t.metric, op=t.op, value=t.value,
                                              rate=value.rate, n=value.n, N=value.N, ok=t.holds(value.rate)))
    if monitoring is not None:
        thresholds += monitoring.thresholds
    return Report(model=model, policy_hash=sandbox.runtime.policy.hash, started_at=started,
                  finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                  suites=[s.suite for s in suites] + ([MONITORING_SUITE] if monitoring else []),
                  repeat=repeat, metrics=metrics, splits=splits(outcomes), thresholds=thresholds, cases=outcomes,
                  containment=containment, skipped=skipped,
                  monitoring=monitoring.model_dump(mode="json") if monitoring else {})


def _run(sandbox: Sandbox, scopes: ScopeOracle, suites: list[Suite], model: str, repeat: int,
         users: Sequence[str] | None, fast: bool) -> tuple[list[CaseOutcome], list[dict[str, str]], dict[str, Any]]:
    outcomes: list[CaseOutcome] = []
    skipped: list[dict[str, str]] = []
    containment: dict[str, Any] = {}
    if model == "adversarial":
        chosen = list(users) if users else list(suites[0].settings.get("users") or []) or None
        for _ in range(repeat):
            outcomes += run_containment(sandbox, scopes, chosen, fast=fast)
        by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for o in outcomes:
            for kind, tally in o.details.get("attempts_by_kind", {}).items():
                for key, count in tally.items():
                    by_kind[kind][key] += count
        containment = {"attempts": sum(v["attempts"] for v in by_kind.values()),
                       "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())}}
        return outcomes, skipped, containment
    copilot = sandbox.factory.copilot(sandbox.runtime)
    corpus_missing = _knowledge_missing(sandbox)
    for suite in suites:
        for case, user in suite.expanded():
            if case.requires == "knowledge_corpus" and corpus_missing:
                skipped.append({"suite": suite.suite, "case": case.id, "user": user, "reason": corpus_missing})
                continue
            for k in range(repeat):
                try:
                    run, values = run_case(sandbox, copilot, case, user)
                    outcomes.append(judge(suite.suite, case, run, values, sandbox, scopes, k))
                except EvalError as exc:
                    outcomes.append(_broken(suite.suite, case.id, user, case.channel, case.kind, str(exc), k))
    return outcomes, skipped, containment


def _broken(suite: str, case_id: str, user: str, channel: str, kind: str, reason: str, k: int) -> CaseOutcome:
    return CaseOutcome(suite=suite, case_id=case_id, user=user, role="-", sites="-", channel=channel, kind=kind,
                       repeat=k, passed=False, failures=[f"case could not run: {reason}"])
