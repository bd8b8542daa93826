"""``jidoka eval compare``: two models on the same suite, metrics and differing cases side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.testing.openai_stub import OpenAIStub, TextReply
from evals.compare import compare_reports
from evals.metrics import MetricValue
from evals.outcome import CaseOutcome
from evals.report import Report
from server.cli import build_app

SUITE = """
suite: compare-mini
cases:
  - id: C-REORDER
    users: [pat.planner]
    input: "Which parts have dropped under their reorder point?"
    expect:
      tools: [{name: items_below_reorder, decision: allow}]
      facts: {fn: below_reorder}
      refusal: false
"""


def _case(case_id: str, passed: bool, tools: list[str], failures: list[str] | None = None) -> CaseOutcome:
    return CaseOutcome(suite="utility", case_id=case_id, user="pat.planner", role="planner", sites="P100",
                       channel="chat", kind="utility", passed=passed, failures=failures or [],
                       tool_calls=[{"name": t} for t in tools])


def _report(model: str, cases: list[CaseOutcome], rate: float) -> Report:
    n = round(rate * 4)
    metric = MetricValue(n=n, N=4, rate=rate, ci_low=None, ci_high=None)
    return Report(model=model, policy_hash="p", started_at="t0", finished_at="t1", suites=["utility"],
                  metrics={"answer_accuracy": metric}, cases=cases)


def test_compare_pairs_metrics_and_lists_only_the_cases_that_differ() -> None:
    baseline = _report("rules", [_case("A", True, ["inventory_lookup"]), _case("B", True, ["work_orders"]),
                                 _case("C", False, ["work_orders"], ["missing fact 12"])], 0.75)
    candidate = _report("openai:m", [_case("A", True, ["inventory_lookup"]),
                                     _case("B", False, [], ["expected tool work_orders"]),
                                     _case("C", True, ["executive_summary"]), _case("D", True, [])], 0.5)
    comparison = compare_reports(baseline, candidate)
    assert comparison.metrics["answer_accuracy"]["baseline"].rate == 0.75  # type: ignore[union-attr]
    assert comparison.metrics["answer_accuracy"]["candidate"].rate == 0.5  # type: ignore[union-attr]
    assert [(d.case_id, d.baseline_passed, d.candidate_passed) for d in comparison.differing] == [
        ("B", True, False), ("C", False, True)]
    assert comparison.differing[0].candidate_failures == ["expected tool work_orders"]
    assert comparison.differing[1].baseline_tools == ["work_orders"]
    assert comparison.differing[1].candidate_tools == ["executive_summary"]
    assert comparison.only_in_one == ["utility/D/pat.planner/0"]


def test_cli_compares_a_configured_model_with_the_rules_model(demo_home: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "compare-mini.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    report = tmp_path / "compare.json"
    # A model that never calls a tool: every reply is the same polite non-answer.
    with OpenAIStub([TextReply("I am not sure which parts you mean.") for _ in range(20)]) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("JIDOKA_HOME", str(demo_home))  # the sandbox copies it, never writes it
        result = CliRunner().invoke(build_app(), ["eval", "compare", str(suite), "--model", "openai:gpt-4o-mini",
                                                  "--json", str(report)])
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["baseline"]["model"], data["candidate"]["model"]) == ("rules", "openai:gpt-4o-mini")
    assert data["metrics"]["answer_accuracy"]["baseline"]["rate"] == 1.0
    assert data["metrics"]["answer_accuracy"]["candidate"]["rate"] == 0.0
    [diff] = data["differing"]
    assert (diff["case_id"], diff["baseline_passed"], diff["candidate_passed"]) == ("C-REORDER", True, False)
    assert diff["baseline_tools"] == ["items_below_reorder"] and diff["candidate_tools"] == []
    assert "only rules passed" in " ".join(result.output.split())
    assert result.exit_code == 0  # the mini suite sets no thresholds; the candidate's thresholds decide
