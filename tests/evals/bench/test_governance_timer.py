"""The governance timer counts outermost calls once, per component, and restores what it wrapped."""

from __future__ import annotations

from evals.bench._governance_timer import COMPONENTS, GovernanceTimer, governance_timer
from evals.bench.stats import percentile, spread
from guardrails.governed import GovernedTools
from guardrails.turn_guard import TurnGuard


def test_nested_calls_count_once_under_the_outer_label() -> None:
    timer = GovernanceTimer()
    inner = timer.wrap("gate", lambda: sum(range(2000)))
    outer = timer.wrap("input screening", lambda: [inner() for _ in range(5)])
    outer()
    assert timer.calls["input screening"] == 1 and timer.calls["gate"] == 0
    assert timer.seconds["input screening"] > 0 and timer.seconds["gate"] == 0


def test_net_subtracts_the_calibrated_wrapper_cost_and_never_goes_negative() -> None:
    timer = GovernanceTimer()
    timer.calibrate(n=2000)
    assert timer.overhead_s >= 0
    noop = timer.wrap("gate", lambda: None)
    for _ in range(100):
        noop()
    timer.overhead_s = 1.0  # far more than measured
    assert timer.net()["gate"] == 0.0
    assert set(timer.net()) == set(COMPONENTS)
    timer.reset()
    assert timer.calls["gate"] == 0 and timer.seconds["gate"] == 0.0


def test_the_wrapped_functions_are_restored() -> None:
    before = (GovernedTools.decide, TurnGuard.screen_prompt)
    with governance_timer() as timer:
        assert GovernedTools.decide is not before[0]
        assert isinstance(timer, GovernanceTimer)
    assert (GovernedTools.decide, TurnGuard.screen_prompt) == before


def test_percentiles_and_spread() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2 and percentile(list(range(1, 101)), 99) == 99
    assert percentile([7.0], 99) == 7.0
    s = spread([3.0, 1.0, 2.0])
    assert (s.median, s.low, s.high, s.n) == (2.0, 1.0, 3.0, 3)
    assert "range 1.00–3.00" in s.describe()
