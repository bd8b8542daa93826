"""Small statistics for benchmark samples (no numpy: the figures must not depend on optional packages)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Spread", "percentile", "spread"]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``samples``; raises ValueError when there are none."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = min(len(ordered) - 1, max(0, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated measurements of one figure."""

    median: float
    low: float
    high: float
    n: int

    def describe(self, fmt: str = "{:.2f}") -> str:
        """``median (low–high, n=…)`` for the conditions column."""
        return f"median of {self.n}, range {fmt.format(self.low)}–{fmt.format(self.high)}"


def spread(values: Sequence[float]) -> Spread:
    """Median, minimum and maximum of ``values``."""
    if not values:
        raise ValueError("no values")
    return Spread(percentile(values, 50), min(values), max(values), len(values))
