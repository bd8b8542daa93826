"""``parameter_drift``: a machine setting out of tolerance, or shifted toward its limit, over recent readings.

Over the last ``window_days`` a (machine, parameter) series is flagged when at least ``min_share_out`` of
its readings are outside target ± tolerance, or when its mean sits at least ``mean_shift`` tolerances
away from target (a trend toward the limit before readings break it). Series with fewer than
``min_readings`` readings are not judged. Advisory: the catalog has no governed action for settings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, select

from tools.monitoring.findings import Finding, Outcome
from tools.plant.schema import table

__all__ = ["DEFAULTS", "KIND", "detect", "outcome"]

KIND = "parameter_drift"
DEFAULTS: Mapping[str, float] = {"window_days": 7, "min_share_out": 0.25, "mean_shift": 0.6, "min_readings": 4}


@dataclass(frozen=True)
class _Series:
    machine_id: str
    line_id: str
    parameter: str
    target: float
    tolerance: float
    values: tuple[float, ...]

    @property
    def share_out(self) -> float:
        return sum(abs(v - self.target) > self.tolerance for v in self.values) / len(self.values)

    @property
    def shift(self) -> float:
        """Mean deviation from target in tolerances (signed)."""
        mean = sum(self.values) / len(self.values)
        return (mean - self.target) / self.tolerance if self.tolerance > 0 else 0.0

    def drifting(self, p: Mapping[str, float]) -> bool:
        return len(self.values) >= p["min_readings"] and (
            self.share_out >= p["min_share_out"] or abs(self.shift) >= p["mean_shift"])


def _series(conn: Connection, site_id: str, start: datetime, end: datetime,
            machine_id: str | None = None, parameter: str | None = None) -> list[_Series]:
    ms, m, pl = table("machine_settings"), table("machines"), table("production_lines")
    stmt = (select(ms.c.machine_id, m.c.line_id, ms.c.parameter, ms.c.value, ms.c.target, ms.c.tolerance)
            .join(m, m.c.machine_id == ms.c.machine_id).join(pl, pl.c.line_id == m.c.line_id)
            .where(pl.c.site_id == site_id, ms.c.recorded_at >= start, ms.c.recorded_at < end)
            .order_by(ms.c.machine_id, ms.c.parameter, ms.c.recorded_at))
    if machine_id is not None:
        stmt = stmt.where(ms.c.machine_id == machine_id)
    if parameter is not None:
        stmt = stmt.where(ms.c.parameter == parameter)
    rows: dict[tuple[str, str, str], list[tuple[float, float, float]]] = defaultdict(list)
    for r in conn.execute(stmt):
        rows[(r.machine_id, r.line_id, r.parameter)].append((float(r.value), float(r.target), float(r.tolerance)))
    # target and tolerance of the latest reading: a changed setpoint counts from then on
    return [_Series(mid, lid, par, vals[-1][1], vals[-1][2], tuple(v for v, _, _ in vals))
            for (mid, lid, par), vals in rows.items()]


def _figures(s: _Series) -> dict[str, float | int | str | None]:
    return {"machine_id": s.machine_id, "line_id": s.line_id, "parameter": s.parameter, "target": s.target,
            "tolerance": s.tolerance, "latest": s.values[-1], "readings": len(s.values),
            "share_out_of_tolerance": round(s.share_out, 4), "mean_shift_tolerances": round(s.shift, 3)}


def detect(conn: Connection, *, site_id: str, params: Mapping[str, float], as_of: datetime,
           today: date) -> list[Finding]:
    """Drifting machine settings of ``site_id``, by machine then parameter."""
    out = []
    for s in _series(conn, site_id, as_of - timedelta(days=params["window_days"]), as_of):
        if not s.drifting(params):
            continue
        direction = "above" if s.shift > 0 else "below"
        out.append(Finding(
            detector=KIND, subject_key=f"{KIND}:{s.machine_id}:{s.parameter}", site_id=site_id,
            severity="high" if s.share_out >= 0.5 else "medium" if s.share_out > 0 else "low",
            title=(f"{s.parameter} on machine {s.machine_id} ({s.line_id}) runs {direction} target: "
                   f"{s.share_out:.0%} of the last {len(s.values)} readings are out of tolerance."),
            record_ids=(s.machine_id, s.line_id), figures=_figures(s), as_of=as_of, suggested=None))
    return out


def outcome(conn: Connection, finding: Finding, *, params: Mapping[str, float], since: datetime,
            as_of: datetime, today: date) -> Outcome:
    """The setting's readings since ``since``: back in tolerance and centred → improved."""
    machine_id, parameter = str(finding.figures["machine_id"]), str(finding.figures["parameter"])
    found = _series(conn, finding.site_id, since, as_of, machine_id, parameter)
    if not found or len(found[0].values) < params["min_readings"]:
        return Outcome("no_data", {"machine_id": machine_id, "parameter": parameter,
                                   "readings": len(found[0].values) if found else 0},
                       f"Too few {parameter} readings on {machine_id} since the action.")
    s = found[0]
    if s.drifting(params):
        return Outcome("not_improving", _figures(s), f"{parameter} on {machine_id} still drifts since the action.")
    return Outcome("improved", _figures(s), f"{parameter} on {machine_id} is back within tolerance.")
