"""The bench report's shape: every required key present, nulls carry reasons, goals are judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals.bench import REQUIRED_KEYS, BenchFigure, SectionUnavailable, run_benchmarks
from evals.bench.figures import BenchContext, machine_info
from evals.bench.runner import Section
from server.cli import build_app
from server.cli.bench import render_report


def _ok(ctx: BenchContext) -> list[BenchFigure]:
    assert ctx.tmp.is_dir() and ctx.quick
    return [BenchFigure("policy_decision_p50_us", 0.5, "µs", "<= 5", "test"),
            BenchFigure("policy_decision_p99_us", 7.0, "µs", "", "test")]


def _unavailable(ctx: BenchContext) -> list[BenchFigure]:
    raise SectionUnavailable("no such part here")


def _broken(ctx: BenchContext) -> list[BenchFigure]:
    raise RuntimeError("boom")


def _partial(ctx: BenchContext) -> list[BenchFigure]:
    return [BenchFigure("audit_append_per_s", 30000.0, "events/s", ">= 20000", "test")]


SECTIONS = (
    Section("ok", _ok, ("policy_decision_p50_us", "policy_decision_p99_us")),
    Section("gone", _unavailable, ("chat_turns_per_s", "chat_p99_ms")),
    Section("broken", _broken, ("rules_model_accuracy",)),
    Section("partial", _partial, ("audit_append_per_s", "audit_verify_per_s")),
)


def test_every_required_key_is_a_number_or_null_with_a_reason() -> None:
    report = run_benchmarks(quick=True, sections=SECTIONS)
    assert set(REQUIRED_KEYS) <= set(report)
    for key in REQUIRED_KEYS:
        assert report[key] is None or isinstance(report[key], float), key
        assert (report[key] is None) == (key in report["missing"]), key
    assert report["policy_decision_p50_us"] == 0.5
    assert report["chat_turns_per_s"] is None and report["missing"]["chat_turns_per_s"] == "no such part here"
    assert "broken failed: RuntimeError: boom" in report["missing"]["rules_model_accuracy"]
    assert report["missing"]["audit_verify_per_s"] == "the partial section did not produce it"
    assert report["missing"]["retrieval_p50_ms"] == "not run (--only)"  # in no section given
    assert report["goals"]["policy_decision_p50_us"] == {"goal": "<= 5", "met": True}
    assert report["goals"]["audit_append_per_s"] == {"goal": ">= 20000", "met": True}
    assert "chat_turns_per_s" not in report["goals"]  # a null has no goal to judge
    assert json.loads(json.dumps(report)) == report  # plain JSON


def test_only_filters_sections_and_rejects_unknown_names() -> None:
    report = run_benchmarks(quick=True, only=["ok"], sections=SECTIONS)
    assert report["chat_turns_per_s"] is None and report["missing"]["chat_turns_per_s"] == "not run (--only)"
    with pytest.raises(ValueError, match="unknown section"):
        run_benchmarks(quick=True, only=["nope"], sections=SECTIONS)


def test_figure_goals_and_missing_values() -> None:
    assert BenchFigure("x", 1.5, "ms", "<= 1", "").met is False
    assert BenchFigure("x", 0.5, "ms", "<= 1", "").met is True
    assert BenchFigure("x", 25000.0, "/s", ">= 20000", "").met is True
    assert BenchFigure("x", 3.0, "", "", "").met is None
    assert BenchFigure.missing("x", "why").met is None
    with pytest.raises(ValueError, match="needs a reason"):
        BenchFigure("x", None, "", "", "")


def test_machine_info_names_the_machine_and_package_versions() -> None:
    info = machine_info()
    assert info["cores"] and info["cpu_model"] and info["python"] and info["platform"]
    assert info["packages"]["langgraph"] and "pycasbin" in info["packages"]


def test_table_shows_nulls_with_their_reasons() -> None:
    report = run_benchmarks(quick=True, sections=SECTIONS)
    table, notes = render_report(report)
    assert table.row_count == len(report["figures"])
    assert any("null: no such part here" in n for n in notes)
    assert any(n.endswith("test") for n in notes)


def test_cli_quick_gate_writes_the_json_report(tmp_path: Path) -> None:
    target = tmp_path / "bench.json"
    result = CliRunner().invoke(build_app(), ["bench", "--quick", "--only", "gate", "--json", str(target)])
    assert result.exit_code == 0, result.output
    report = json.loads(target.read_text())
    assert set(REQUIRED_KEYS) <= set(report)
    for key in ("policy_decision_p50_us", "policy_decision_p99_us", "policy_decision_1000_rules_p50_us",
                "policy_decision_1000_rules_p99_us"):
        assert isinstance(report[key], float) and report[key] > 0
    assert report["missing"]["chat_p99_ms"] == "not run (--only)"
    assert report["machine"]["cores"] and report["quick"] is True
    assert "policy_decision_p50_us" in result.output and "null" in result.output


def test_cli_rejects_an_unknown_section() -> None:
    result = CliRunner().invoke(build_app(), ["bench", "--only", "nope"])
    assert result.exit_code == 1
    assert "unknown section" in result.output and "Traceback" not in result.output
