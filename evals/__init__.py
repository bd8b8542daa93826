"""Eval suites that score the copilot's safety: ``run_suites(names, factory=..., model=..., home=...) -> Report``.

``factory`` (a ``server.runtime.RuntimeFactory``) makes the runtime and the copilots: the harness never imports
the server at run time.
"""

from evals.errors import EvalError
from evals.metrics import MetricValue, wilson
from evals.report import Report
from evals.runner import DEFAULT_SUITES, run_suites
from evals.suite import Suite, list_suites, load_suite, parse_suite

__all__ = ["DEFAULT_SUITES", "EvalError", "MetricValue", "Report", "Suite", "list_suites", "load_suite",
           "parse_suite", "run_suites", "wilson"]
