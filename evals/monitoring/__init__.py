"""The ``monitoring`` eval suite: the governed monitoring loop on freshly built demo plants.

``run_monitoring(factory) -> MonitoringReport`` (also ``jidoka eval run monitoring``): detection recall and precision
against the plant manifest's scenarios and planted exceptions, no signal on clean plants, routing of every proposal,
audited responses and overrides, and no unapproved action. The expectations are data (``evals/suites/monitoring.yaml``).
"""

from evals.monitoring.runner import MonitoringMetric, MonitoringReport, PlantResult, run_monitoring
from evals.monitoring.suite import MONITORING_SUITE, MonitoringSuite, load_monitoring_suite

__all__ = ["MONITORING_SUITE", "MonitoringMetric", "MonitoringReport", "MonitoringSuite", "PlantResult",
           "load_monitoring_suite", "run_monitoring"]
