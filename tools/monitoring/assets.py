"""``asset_risk``: an asset whose latest failure probability is at or over ``failure_probability`` and
whose risk nobody is acting on in time.

An asset is covered when a predictive or corrective maintenance order of it is in progress, is scheduled
to start within the score's horizon (``scored_at`` + ``horizon_days``), or was completed after the score.
An open order with no scheduled start is a request, not a plan, and routine preventive work does not
address a predicted failure: neither covers the risk. Suggested: a scheduled
predictive maintenance order (``create_maintenance_order``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, func, select

from tools.monitoring.findings import Finding, Outcome, Severity, SuggestedAction
from tools.plant.schema import table

__all__ = ["DEFAULTS", "KIND", "detect", "outcome"]

KIND = "asset_risk"
DEFAULTS: Mapping[str, float] = {"failure_probability": 0.6}

_OPEN = ("open", "scheduled", "in_progress")
_ADDRESSING = ("predictive", "corrective")


@dataclass(frozen=True)
class _Score:
    asset_id: str
    name: str
    site_id: str
    machine_id: str | None
    criticality: str
    probability: float
    scored_at: datetime
    horizon_days: int


@dataclass(frozen=True)
class _Order:
    mo_id: str
    mo_type: str
    status: str
    scheduled_start: datetime | None
    scheduled_end: datetime | None


def _latest_scores(conn: Connection, site_id: str, as_of: datetime, asset_id: str | None = None,
                   after: datetime | None = None) -> list[_Score]:
    ah, a = table("asset_health"), table("assets")
    window = [ah.c.scored_at <= as_of, *([ah.c.scored_at >= after] if after is not None else [])]
    latest = (select(ah.c.asset_id, func.max(ah.c.scored_at).label("at")).where(*window)
              .group_by(ah.c.asset_id).subquery())
    stmt = (select(a.c.asset_id, a.c.name, a.c.site_id, a.c.machine_id, a.c.criticality, ah.c.failure_probability,
                   ah.c.scored_at, ah.c.horizon_days)
            .join(latest, latest.c.asset_id == a.c.asset_id)
            .join(ah, (ah.c.asset_id == latest.c.asset_id) & (ah.c.scored_at == latest.c.at))
            .where(a.c.site_id == site_id).order_by(a.c.asset_id))
    if asset_id is not None:
        stmt = stmt.where(a.c.asset_id == asset_id)
    return [_Score(r.asset_id, r.name, r.site_id, r.machine_id, r.criticality, float(r.failure_probability),
                   r.scored_at, int(r.horizon_days)) for r in conn.execute(stmt)]


def _orders(conn: Connection, asset_ids: list[str]) -> dict[str, list[_Order]]:
    mo = table("maintenance_orders")
    out: dict[str, list[_Order]] = defaultdict(list)
    for r in conn.execute(select(mo).where(mo.c.asset_id.in_(asset_ids)).order_by(mo.c.mo_id)):
        out[r.asset_id].append(_Order(r.mo_id, r.mo_type, r.status, r.scheduled_start, r.scheduled_end))
    return out


def _covers(order: _Order, score: _Score) -> bool:
    if order.mo_type not in _ADDRESSING:
        return False
    if order.status == "in_progress":
        return True
    if order.status == "completed":
        return order.scheduled_end is not None and order.scheduled_end >= score.scored_at
    return (order.status in _OPEN and order.scheduled_start is not None
            and order.scheduled_start <= score.scored_at + timedelta(days=score.horizon_days))


def _severity(score: _Score) -> Severity:
    if score.probability >= 0.8 or score.criticality == "A":
        return "high"
    return "medium" if score.criticality == "B" else "low"


def _suggest(score: _Score, as_of: datetime) -> SuggestedAction:
    start = as_of + timedelta(hours=1)
    return SuggestedAction("create_maintenance_order", {
        "asset_id": score.asset_id, "mo_type": "predictive", "priority": 1 if score.probability >= 0.8 else 2,
        "description": (f"Inspect and repair {score.name}: predicted failure probability "
                        f"{score.probability:.0%} within {score.horizon_days} days."),
        "scheduled_start": start, "scheduled_end": start + timedelta(hours=6)})


def detect(conn: Connection, *, site_id: str, params: Mapping[str, float], as_of: datetime,
           today: date) -> list[Finding]:
    """Uncovered assets of ``site_id`` at or over the failure-probability threshold, by asset id."""
    risky = [s for s in _latest_scores(conn, site_id, as_of) if s.probability >= params["failure_probability"]]
    orders = _orders(conn, [s.asset_id for s in risky])
    out = []
    for s in risky:
        if any(_covers(o, s) for o in orders[s.asset_id]):
            continue
        open_ids = tuple(o.mo_id for o in orders[s.asset_id] if o.status in _OPEN)
        out.append(Finding(
            detector=KIND, subject_key=f"{KIND}:{s.asset_id}", site_id=site_id, severity=_severity(s),
            title=(f"Asset {s.asset_id} ({s.name}) has a {s.probability:.0%} predicted failure probability "
                   f"within {s.horizon_days} days and no maintenance planned in that time."),
            record_ids=(s.asset_id, *([s.machine_id] if s.machine_id else []), *open_ids),
            figures={"asset_id": s.asset_id, "failure_probability": s.probability,
                     "threshold": params["failure_probability"], "horizon_days": s.horizon_days,
                     "scored_at": s.scored_at.isoformat(), "criticality": s.criticality,
                     "unscheduled_open_orders": len(open_ids)},
            as_of=as_of, suggested=_suggest(s, as_of)))
    return out


def outcome(conn: Connection, finding: Finding, *, params: Mapping[str, float], since: datetime,
            as_of: datetime, today: date) -> Outcome:
    """Improved when a predictive or corrective order now covers the risk (as in :func:`detect`) or a new one
    was opened, or when the latest score since ``since`` is under the threshold; no data when there is
    neither such an order nor a new score."""
    asset_id = str(finding.figures["asset_id"])
    known = set(finding.record_ids)
    scored = _Score(asset_id, "", finding.site_id, None, "", 0.0, datetime.fromisoformat(
        str(finding.figures["scored_at"])), int(finding.figures["horizon_days"] or 0))
    new = [o for o in _orders(conn, [asset_id])[asset_id] if _covers(o, scored) or (
        o.mo_id not in known and o.mo_type in _ADDRESSING and o.status in _OPEN)]
    scores = _latest_scores(conn, finding.site_id, as_of, asset_id, after=since)
    figures: dict[str, float | int | str | None] = {
        "asset_id": asset_id, "threshold": params["failure_probability"], "new_orders": len(new),
        "failure_probability": scores[0].probability if scores else None}
    if new:
        return Outcome("improved", figures, f"Maintenance order {new[0].mo_id} ({new[0].status}) now covers "
                                            f"asset {asset_id}.")
    if not scores:
        return Outcome("no_data", figures, f"No new maintenance order and no new health score for {asset_id}.")
    if scores[0].probability < params["failure_probability"]:
        return Outcome("improved", figures, f"Asset {asset_id}'s latest failure probability is "
                                            f"{scores[0].probability:.0%}, under the threshold.")
    return Outcome("not_improving", figures, f"Asset {asset_id} still scores {scores[0].probability:.0%} with no "
                                             f"new maintenance order.")
