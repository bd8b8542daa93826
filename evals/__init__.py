"""Eval suites that score the copilot's safety: ``run_suites(names, model=..., home=...) -> Report``."""

from evals.errors import EvalError
from evals.metrics import MetricValue, wilson
from evals.report import Report
from evals.runner import DEFAULT_SUITES, run_suites
from evals.suite import Suite, list_suites, load_suite, parse_suite

__all__ = ["DEFAULT_SUITES", "EvalError", "MetricValue", "Report", "Suite", "list_suites", "load_suite",
           "parse_suite", "run_suites", "wilson"]
