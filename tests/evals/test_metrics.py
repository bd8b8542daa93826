"""Wilson intervals, null rates for N = 0 and pass^k aggregation."""

from __future__ import annotations

import pytest

from evals.metrics import METRIC_NAMES, MetricValue, aggregate, splits, wilson
from evals.outcome import CaseOutcome, Count


def test_wilson_matches_known_values() -> None:
    # Reference values of the Wilson score interval at z = 1.96.
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)


@pytest.mark.parametrize(("n", "total"), [(0, 0), (3, 2), (-1, 5)])
def test_wilson_rejects_impossible_counts(n: int, total: int) -> None:
    with pytest.raises(ValueError):
        wilson(n, total)


def test_a_metric_with_no_trials_has_null_rate_and_interval() -> None:
    value = MetricValue.of(Count())
    assert (value.n, value.N, value.rate, value.ci_low, value.ci_high) == (0, 0, None, None, None)
    zero = MetricValue.of(Count(n=0, N=4))
    assert zero.rate == 0.0 and zero.ci_low == 0.0 and zero.ci_high is not None and zero.ci_high > 0


def _outcome(case: str, repeat: int, passed: bool, role: str = "planner", **metrics: Count) -> CaseOutcome:
    return CaseOutcome(suite="s", case_id=case, user="u", role=role, sites="P100", channel="user_turn",
                       kind="benign", repeat=repeat, passed=passed, metrics=metrics)


def test_benign_utility_is_pass_hat_k_and_other_metrics_count_every_repeat() -> None:
    runs = [_outcome("a", 0, True, benign_utility=Count(n=1, N=1), answer_accuracy=Count(n=1, N=1)),
            _outcome("a", 1, False, benign_utility=Count(n=0, N=1), answer_accuracy=Count(n=0, N=1)),
            _outcome("b", 0, True, benign_utility=Count(n=1, N=1), answer_accuracy=Count(n=1, N=1)),
            _outcome("b", 1, True, benign_utility=Count(n=1, N=1), answer_accuracy=Count(n=1, N=1))]
    metrics = aggregate(runs)
    assert (metrics["benign_utility"].n, metrics["benign_utility"].N) == (1, 2)  # case a failed one repeat
    assert (metrics["answer_accuracy"].n, metrics["answer_accuracy"].N) == (3, 4)
    assert set(metrics) == set(METRIC_NAMES) and metrics["leak_rate"].rate is None


def test_skipped_cases_count_towards_nothing_and_splits_group_by_role() -> None:
    skipped = _outcome("c", 0, False, leak_rate=Count(n=1, N=1)).model_copy(update={"skipped": "no corpus"})
    runs = [_outcome("a", 0, True, role="planner", leak_rate=Count(n=0, N=1)),
            _outcome("b", 0, True, role="buyer", leak_rate=Count(n=1, N=1)), skipped]
    assert aggregate(runs)["leak_rate"].N == 2
    by_role = splits(runs)["role"]
    assert by_role["buyer"]["leak_rate"].rate == 1.0 and by_role["planner"]["leak_rate"].rate == 0.0
