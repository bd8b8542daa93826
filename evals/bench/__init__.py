"""Benchmarks behind ``jidoka bench``: figures with their conditions, never timing assertions in tests."""

from evals.bench.runner import BenchFigure, run_benchmarks

__all__ = ["BenchFigure", "run_benchmarks"]
