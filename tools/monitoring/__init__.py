"""Monitoring: deterministic detectors that read the plant database and report findings.

The governed loop (signal store, gate, approvals, scheduler) consumes the findings; this package only
reads. See :mod:`tools.monitoring.detectors` for the registry and :mod:`tools.monitoring.findings` for
the result types.
"""

from __future__ import annotations

from tools.monitoring.detectors import DEFAULT_PARAMS, DETECTOR_KINDS, check_outcome, run_detector
from tools.monitoring.findings import Finding, Outcome, SuggestedAction

__all__ = ["DEFAULT_PARAMS", "DETECTOR_KINDS", "Finding", "Outcome", "SuggestedAction", "check_outcome",
           "run_detector"]
