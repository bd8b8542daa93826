"""The monitoring suite file (``evals/suites/monitoring.yaml``): seeds, thresholds and every expectation as data."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evals.errors import SuiteInvalid

__all__ = ["COUNT_METRICS", "MONITORING_METRICS", "MONITORING_SUITE", "Expected", "MonitoringSuite",
           "MonitoringThreshold", "ResponseCase", "load_monitoring_suite", "manifest_lookup", "manifest_values"]

MONITORING_SUITE = "monitoring"
"""The suite name ``jidoka eval run`` hands to this runner instead of the chat-turn runner."""
MONITORING_METRICS = ("detection_recall", "detection_precision", "detection_precision_scenarios_only",
                      "clean_false_positives", "routing", "overrides_audited", "unapproved_actions")


COUNT_METRICS = frozenset({"clean_false_positives", "unapproved_actions"})
"""Metrics that are counts (their value is n), not rates (n / N)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonitoringThreshold(_Model):
    """``metric op value``: a rate (0..1) or, for :data:`COUNT_METRICS`, a count. Nothing measured misses."""

    metric: str
    op: Literal["<=", ">=", "<", ">"]
    value: float = Field(ge=0)

    def holds(self, measured: float | None) -> bool:
        """True when ``measured`` meets the threshold."""
        if measured is None:
            return False
        return {"<=": measured <= self.value, ">=": measured >= self.value, "<": measured < self.value,
                ">": measured > self.value}[self.op]


class Expected(_Model):
    """A planted scenario the monitor must find: detector, site and record ids (manifest templates)."""

    scenario: str
    detector: str
    site: str | None = None
    records: list[str] = Field(min_length=1)
    each: str | None = None
    """A manifest path to a list: one expectation per element (``{each.<key>}`` reads it)."""
    subject: bool = True
    """The first of ``records`` must be the finding's subject (its first record id)."""


class ResponseCase(_Model):
    """A person's response to the first matching signal of each full plant."""

    detector: str
    kind: Literal["acknowledge", "dismiss", "override"]
    users: list[str] = Field(min_length=1)
    reason: str
    pending: bool = False
    """Pick a signal with a pending recommendation (an override must reject it)."""
    refused: bool = False
    """The user may not respond: the refusal must be audited and change nothing."""


class MonitoringSuite(_Model):
    """The parsed suite file."""

    suite: str
    description: str = ""
    today: date
    seeds: list[int] = Field(min_length=1)
    clean_plants: bool = True
    thresholds: list[MonitoringThreshold] = Field(min_length=1)
    expected: list[Expected] = Field(min_length=1)
    exception_detectors: list[str] = Field(default_factory=list)
    routing: dict[str, list[list[str]]]
    responses: list[ResponseCase] = Field(default_factory=list)
    approve_pending: bool = True


def load_monitoring_suite(path: Path | None = None) -> MonitoringSuite:
    """The shipped ``monitoring.yaml`` (or the file at ``path``); :class:`SuiteInvalid` when malformed."""
    source = path or Path(str(resources.files("evals") / "suites" / f"{MONITORING_SUITE}.yaml"))
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        suite = MonitoringSuite.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise SuiteInvalid(source.name, str(exc).splitlines()[0]) from None
    for t in suite.thresholds:
        if t.metric not in MONITORING_METRICS:
            raise SuiteInvalid(source.name, f"unknown monitoring metric {t.metric!r}; known: {MONITORING_METRICS}")
    return suite


def manifest_lookup(data: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``data`` (``None`` when absent)."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def manifest_values(template: str, manifest: dict[str, Any], each: Any = None) -> list[str]:
    """The ids a ``{path}`` template names in ``manifest`` (or ``{each.key}`` in the element); literal text as is."""
    if not (template.startswith("{") and template.endswith("}")):
        return [template]
    path = template[1:-1]
    value = manifest_lookup({"each": each}, path) if path.startswith("each.") else manifest_lookup(manifest, path)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
