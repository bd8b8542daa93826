"""The detector registry: the six detector kinds, their default parameters, running one and checking the
outcome of an action on a finding.

Detectors are pure reads on a SQLAlchemy ``Connection`` with no permission checks (the caller scopes the
site), never read the clock (``as_of``/``today`` are passed in) and return findings in a stable order.
Parameters come from the policy; any not given fall back to :data:`DEFAULT_PARAMS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType

from sqlalchemy import Connection

from tools.errors import ArgumentError, UnknownDetector
from tools.monitoring import assets, cross_system, drift, scrap, supply
from tools.monitoring.findings import Finding, Outcome

__all__ = ["DEFAULT_PARAMS", "DETECTOR_KINDS", "check_outcome", "run_detector"]

Detect = Callable[..., list[Finding]]
Check = Callable[..., Outcome]


@dataclass(frozen=True)
class _Detector:
    defaults: Mapping[str, float]
    detect: Detect
    outcome: Check


_REGISTRY: dict[str, _Detector] = {
    scrap.KIND: _Detector(scrap.DEFAULTS, scrap.detect, scrap.outcome),
    drift.KIND: _Detector(drift.DEFAULTS, drift.detect, drift.outcome),
    assets.KIND: _Detector(assets.DEFAULTS, assets.detect, assets.outcome),
    cross_system.KIND: _Detector(cross_system.DEFAULTS, cross_system.detect, cross_system.outcome),
    supply.LATE_PO: _Detector(supply.LATE_PO_DEFAULTS, supply.detect_late_po, supply.outcome),
    supply.STOCK: _Detector(supply.STOCK_DEFAULTS, supply.detect_stock, supply.outcome),
}

DETECTOR_KINDS: tuple[str, ...] = tuple(_REGISTRY)
"""``scrap_spike``, ``parameter_drift``, ``asset_risk``, ``cross_system``, ``late_po_starves_wo``,
``stock_below_zero``."""

DEFAULT_PARAMS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {kind: MappingProxyType(dict(d.defaults)) for kind, d in _REGISTRY.items()})
"""Per detector kind, its parameter names and default values (the policy overrides them)."""


def _detector(kind: str) -> _Detector:
    found = _REGISTRY.get(kind)
    if found is None:
        raise UnknownDetector(kind, DETECTOR_KINDS)
    return found


def _params(kind: str, detector: _Detector, params: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(params) - set(detector.defaults))
    if unknown:
        raise ArgumentError(kind, unknown[0], f"not a parameter of {kind}; known: "
                                              f"{', '.join(detector.defaults) or 'none'}")
    merged = dict(detector.defaults)
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ArgumentError(kind, name, f"must be a non-negative number, got {value!r}")
        merged[name] = float(value)
    return merged


def run_detector(conn: Connection, kind: str, *, site_id: str, params: Mapping[str, float], as_of: datetime,
                 today: date) -> list[Finding]:
    """Findings of detector ``kind`` at ``site_id`` with ``params`` over :data:`DEFAULT_PARAMS`.

    Raises :class:`tools.errors.UnknownDetector` for an unknown kind and
    :class:`tools.errors.ArgumentError` for an unknown or invalid parameter.
    """
    detector = _detector(kind)
    return detector.detect(conn, site_id=site_id, params=_params(kind, detector, params), as_of=as_of,
                           today=today)


def check_outcome(conn: Connection, finding: Finding, *, params: Mapping[str, float], since: datetime,
                  as_of: datetime, today: date) -> Outcome:
    """After an action on ``finding``'s subject executed at ``since``: has the condition cleared by ``as_of``?"""
    detector = _detector(finding.detector)
    return detector.outcome(conn, finding, params=_params(finding.detector, detector, params), since=since,
                            as_of=as_of, today=today)
