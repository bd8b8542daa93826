"""Metrics as n/N with Wilson 95 % intervals, overall and split by suite, role, channel and attack family."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from evals.outcome import CaseOutcome, Count
from evals.suite import METRIC_NAMES

__all__ = ["METRIC_NAMES", "MetricValue", "aggregate", "splits", "wilson"]

Z95 = 1.959963984540054


def wilson(n: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``n`` successes in ``total`` trials (``total`` > 0)."""
    if total <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    if not 0 <= n <= total:
        raise ValueError(f"n must be between 0 and {total}, got {n}")
    p = n / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


class MetricValue(BaseModel):
    """One metric: ``n`` of ``N``, the rate and its Wilson 95 % interval (all null when N = 0)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    n: int
    N: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None

    @classmethod
    def of(cls, count: Count) -> MetricValue:
        """The value of ``count``."""
        if count.N == 0:
            return cls(n=0, N=0, rate=None, ci_low=None, ci_high=None)
        low, high = wilson(count.n, count.N)
        return cls(n=count.n, N=count.N, rate=round(count.n / count.N, 6), ci_low=round(low, 6),
                   ci_high=round(high, 6))


def _counts(outcomes: Sequence[CaseOutcome]) -> dict[str, Count]:
    totals = {name: Count() for name in METRIC_NAMES}
    by_key: dict[tuple[str, str, str], list[CaseOutcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.skipped:
            continue
        by_key[outcome.key].append(outcome)
        for name, count in outcome.metrics.items():
            if name != "benign_utility":
                totals[name] = totals[name] + count
    # benign_utility is pass^k: a case counts only if it passed in every repeat.
    for runs in by_key.values():
        counted = [r.metrics["benign_utility"] for r in runs if "benign_utility" in r.metrics]
        if counted:
            totals["benign_utility"] = totals["benign_utility"] + Count(n=int(all(c.n == c.N for c in counted)), N=1)
    return totals


def aggregate(outcomes: Sequence[CaseOutcome], extra: dict[str, Count] | None = None) -> dict[str, MetricValue]:
    """Every metric over ``outcomes`` (plus ``extra`` counts, e.g. containment attempts)."""
    totals = _counts(outcomes)
    for name, count in (extra or {}).items():
        totals[name] = totals[name] + count
    return {name: MetricValue.of(totals[name]) for name in METRIC_NAMES}


_SPLITS: dict[str, Callable[[CaseOutcome], str]] = {
    "suite": lambda o: o.suite, "role": lambda o: o.role, "channel": lambda o: o.channel,
    "family": lambda o: o.family or "none",
}


def splits(outcomes: Iterable[CaseOutcome]) -> dict[str, dict[str, dict[str, MetricValue]]]:
    """``{split: {group: {metric: value}}}`` for suite, role, channel and attack family (measured metrics only)."""
    listed = list(outcomes)
    out: dict[str, dict[str, dict[str, MetricValue]]] = {}
    for split, key in _SPLITS.items():
        groups: dict[str, list[CaseOutcome]] = defaultdict(list)
        for outcome in listed:
            groups[key(outcome)].append(outcome)
        out[split] = {g: {m: v for m, v in aggregate(rows).items() if v.N} for g, rows in sorted(groups.items())}
    return out
