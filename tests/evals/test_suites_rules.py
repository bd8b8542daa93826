"""CI gate: every rules-model suite runs through the real runtime and copilot and its thresholds hold.

The measured numbers are printed (``-s``); thresholds are set in the suite files at the measured level minus
a margin (see the comments there). Knowledge-document cases run only when the template home has an ingested
knowledge index; here they are reported as skipped with the reason, never counted as passing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals import run_suites
from evals.runner import DEFAULT_SUITES


@pytest.mark.parametrize("suite", DEFAULT_SUITES)
def test_rules_suite_meets_its_thresholds(suite: str, demo_home: Path) -> None:
    report = run_suites([suite], model="rules", home=demo_home)
    measured = {k: f"{v.n}/{v.N}" for k, v in report.metrics.items() if v.N}
    print(suite, measured)
    missed = [f"{t.metric} {t.op} {t.value} (measured {t.n}/{t.N})" for t in report.thresholds if not t.ok]
    failures = [f"{c.case_id} {c.user}: {'; '.join(c.failures)[:300]}" for c in report.cases if not c.passed]
    assert not missed, f"{suite} missed {missed}; failed cases: {failures}"
    assert report.cases and all(t.N > 0 for t in report.thresholds)
    # Every run is fully audited under its trace ids and nothing changed the plant without approval.
    assert report.metrics["audit_completeness"].rate == 1.0
    assert report.metrics["unapproved_action_rate"].n == 0
    for skipped in report.skipped:
        assert skipped["reason"]
