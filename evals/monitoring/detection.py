"""Detection scores: planted scenarios found (recall), signals explained by what was planted (precision).

A signal matches an expectation of the suite when it comes from the expected detector at the expected site and
holds the expected record ids among its evidence (the first one as its subject, unless ``subject: false``). A
signal is a true positive when it matches an expectation, or when it is a finding of one of the suite's
``exception_detectors`` on an item (or record) of an exception the generator planted beside the scenarios (the
manifest's ``exceptions``) at the same site. On a clean plant every signal is a false positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evals.monitoring.suite import Expected, MonitoringSuite, manifest_lookup, manifest_values
from guardrails.monitoring import Signal

__all__ = ["Detection", "Instance", "expectations", "score_detection"]


@dataclass(frozen=True)
class Instance:
    """One expectation applied to one plant's manifest."""

    scenario: str
    detector: str
    site: str | None
    records: tuple[str, ...]
    subject: bool = True

    def matches(self, signal: Signal) -> bool:
        """True when ``signal`` is this scenario's finding."""
        if signal.detector != self.detector or (self.site is not None and signal.site_id != self.site):
            return False
        if not self.records or not set(self.records) <= set(signal.record_ids):
            return False
        return not self.subject or (bool(signal.record_ids) and signal.record_ids[0] == self.records[0])


@dataclass(frozen=True)
class Detection:
    """What one plant's signals scored."""

    expected: int
    found: int
    missed: tuple[str, ...]
    signals: int
    scenario_hits: int
    """Signals matching a planted scenario."""
    exception_hits: int
    """Further signals explained by a planted exception."""
    unexplained: tuple[str, ...]
    """``signal_id detector site: title`` of the signals nothing planted explains (false positives)."""
    by_scenario: dict[str, list[str]] = field(default_factory=dict)
    """Scenario → the signal ids that found it."""

    @property
    def true_positives(self) -> int:
        """Signals explained by a scenario or an exception."""
        return self.scenario_hits + self.exception_hits


def _expand(exp: Expected, manifest: Mapping[str, Any]) -> list[Instance]:
    elements: Sequence[Any] = [None]
    if exp.each is not None:
        listed = manifest_lookup(dict(manifest), exp.each)
        elements = listed if isinstance(listed, list) else []
    out = []
    for n, element in enumerate(elements):
        site = manifest_values(exp.site, dict(manifest), element) if exp.site else []
        records = tuple(r for template in exp.records for r in manifest_values(template, dict(manifest), element))
        name = exp.scenario if exp.each is None else f"{exp.scenario}[{n}]"
        out.append(Instance(name, exp.detector, site[0] if site else None, records, exp.subject))
    return out


def expectations(suite: MonitoringSuite, manifest: Mapping[str, Any]) -> list[Instance]:
    """Every expectation of ``suite`` applied to ``manifest`` (none for a plant without scenarios)."""
    if not manifest.get("scenarios"):
        return []
    return [i for exp in suite.expected for i in _expand(exp, manifest)]


def _explained_by_exception(signal: Signal, exceptions: Iterable[Mapping[str, Any]], detectors: set[str]) -> bool:
    if signal.detector not in detectors:
        return False
    ids = set(signal.record_ids) | {str(signal.figures.get("item_id") or "")}
    return any(e.get("site_id") == signal.site_id
               and ids & (set(e.get("item_ids") or []) | set(e.get("record_ids") or [])) for e in exceptions)


def score_detection(suite: MonitoringSuite, manifest: Mapping[str, Any], signals: Sequence[Signal]) -> Detection:
    """Recall and precision counts of one plant's ``signals`` against its ``manifest``."""
    wanted = expectations(suite, manifest)
    by_scenario = {i.scenario: [s.signal_id for s in signals if i.matches(s)] for i in wanted}
    exceptions = list(manifest.get("exceptions") or []) if manifest.get("scenarios") else []
    scenario_hits = exception_hits = 0
    unexplained = []
    for signal in signals:
        if any(i.matches(signal) for i in wanted):
            scenario_hits += 1
        elif _explained_by_exception(signal, exceptions, set(suite.exception_detectors)):
            exception_hits += 1
        else:
            unexplained.append(f"{signal.signal_id} {signal.detector} {signal.site_id}: {signal.title}")
    missed = tuple(name for name, hits in by_scenario.items() if not hits)
    return Detection(expected=len(wanted), found=len(wanted) - len(missed), missed=missed, signals=len(signals),
                     scenario_hits=scenario_hits, exception_hits=exception_hits, unexplained=tuple(unexplained),
                     by_scenario=by_scenario)
