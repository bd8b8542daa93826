"""Benchmarks behind ``jidoka bench``: figures with their conditions, never timing assertions in tests."""

from evals.bench.figures import REQUIRED_KEYS, BenchFigure, SectionUnavailable
from evals.bench.runner import SECTIONS, run_benchmarks

__all__ = ["REQUIRED_KEYS", "SECTIONS", "BenchFigure", "SectionUnavailable", "run_benchmarks"]
