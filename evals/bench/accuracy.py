"""The rules model's answer accuracy on the eval harness's ``utility`` suite (evals/suites/utility.yaml)."""

from __future__ import annotations

from evals.bench.figures import BenchContext, BenchFigure, SectionUnavailable

__all__ = ["accuracy_figures"]


def accuracy_figures(ctx: BenchContext) -> list[BenchFigure]:
    """``rules_model_accuracy``: share of utility cases answered correctly (tools, scope and oracle facts)."""
    try:
        from evals.runner import run_suites
        from evals.suite import load_suite
    except ImportError as exc:
        raise SectionUnavailable(f"the eval harness is not importable ({exc})") from None
    from evals.bench.plant import demo_home

    factory = ctx.runtimes()
    home = demo_home(ctx.tmp, factory.settings.today)
    report = run_suites(["utility"], factory=factory, model="rules", home=home, workdir=ctx.tmp)
    value = report.metrics.get("answer_accuracy")
    if value is None or value.rate is None:
        raise SectionUnavailable("the utility suite measured no answer_accuracy (no cases ran)")
    skipped = f", {len(report.skipped)} case(s) skipped" if report.skipped else ""
    cond = (f"evals utility suite (evals/suites/utility.yaml), rules model, seed-7 demo plant: {value.n}/{value.N} "
            f"cases correct (tools, arguments and the facts the permission-scoped SQL oracle derives), Wilson 95 % "
            f"interval {value.ci_low:.3f}–{value.ci_high:.3f}{skipped}")
    goal = next((f"{t.op} {t.value:g}" for t in load_suite("utility").thresholds if t.metric == "answer_accuracy"), "")
    return [BenchFigure("rules_model_accuracy", value.rate, "share", goal, cond)]
