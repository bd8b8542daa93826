"""The ``monitoring`` eval suite: its file, a one-seed run from Python, and ``jidoka eval run monitoring``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.monitoring import MONITORING_SUITE, load_monitoring_suite, run_monitoring
from evals.suite import list_suites
from server.runtime import RuntimeFactory
from tests.server.cli.cli_helpers import run_cli


def test_the_suite_file_holds_seeds_thresholds_and_expectations() -> None:
    suite = load_monitoring_suite()
    assert suite.suite == MONITORING_SUITE and suite.seeds == [42, 7, 2024] and suite.clean_plants
    assert {(t.metric, t.op, t.value) for t in suite.thresholds} == {
        ("detection_recall", ">=", 1.0), ("detection_precision", ">=", 1.0), ("clean_false_positives", "<=", 0),
        ("routing", ">=", 1.0), ("overrides_audited", ">=", 1.0), ("unapproved_actions", "<=", 0)}
    assert MONITORING_SUITE not in list_suites()  # not a chat-turn suite


def test_one_seed_meets_every_threshold(runtime_factory: RuntimeFactory) -> None:
    suite = load_monitoring_suite().model_copy(update={"seeds": [42]})
    report = run_monitoring(runtime_factory, suite=suite)
    assert report.ok, [p.failures for p in report.plants]
    m = report.metrics
    assert m["detection_recall"].n == m["detection_recall"].N == 9
    assert m["detection_precision"].value == 1.0 and m["clean_false_positives"].value == 0
    assert m["routing"].N >= 4 and len(suite.responses) == m["overrides_audited"].N
    assert m["unapproved_actions"].value == 0 and m["unapproved_actions"].N >= 4
    assert [(p.seed, p.scenarios) for p in report.plants] == [(42, True), (42, False)]


@pytest.mark.slow
def test_jidoka_eval_run_monitoring_passes(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "report.json"
    code, out, _ = run_cli(["eval", "run", "monitoring", "--json", str(out_json)], demo_home, monkeypatch, capsys)
    assert code == 0, out
    report = json.loads(out_json.read_text())
    assert report["suites"] == ["monitoring"] and all(t["ok"] for t in report["thresholds"])
    assert len(report["monitoring"]["plants"]) == 6 and report["monitoring"]["seconds"] < 90
    assert "detection_recall" in out and "all thresholds hold" in out
