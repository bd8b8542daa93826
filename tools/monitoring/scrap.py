"""``scrap_spike``: a line, or the work orders that consumed one input lot, scrapping well above the
line's own history.

The baseline is the line's scrap rate over ``baseline_days`` before the recent window (its own history,
nothing hard-coded); a line or lot is flagged when its rate over the last ``window_days`` exceeds that
baseline by more than ``variance_limit`` (an absolute fraction, as the policy's
``scrap_variance_limit``) on at least ``min_qty`` units produced (good + scrap).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, select

from tools.monitoring._output import Volume, rate, wo_output
from tools.monitoring.findings import Figures, Finding, Outcome, Severity, SuggestedAction
from tools.plant.schema import table

__all__ = ["DEFAULTS", "KIND", "detect", "outcome"]

KIND = "scrap_spike"
DEFAULTS: Mapping[str, float] = {"window_days": 10, "baseline_days": 28, "variance_limit": 0.05, "min_qty": 200}


def _severity(excess: float, limit: float) -> Severity:
    return "high" if excess >= 2 * limit else "medium"


def _baselines(volumes: list[Volume], min_qty: float) -> dict[str, float]:
    """Line → scrap rate over the baseline period (lines with too little history have none)."""
    by_line: dict[str, list[Volume]] = defaultdict(list)
    for v in volumes:
        by_line[v.line_id].append(v)
    out = {}
    for line_id, vs in by_line.items():
        good, scrap, r = rate(vs)
        if r is not None and good + scrap >= min_qty:
            out[line_id] = r
    return out


def _lot_users(conn: Connection, wo_ids: list[str]) -> dict[str, tuple[str, set[str]]]:
    """Input lot → (its item, the given work orders it was issued to)."""
    wm = table("wo_materials")
    users: dict[str, tuple[str, set[str]]] = {}
    for r in conn.execute(select(wm.c.lot_id, wm.c.item_id, wm.c.wo_id).where(wm.c.wo_id.in_(wo_ids))
                          .order_by(wm.c.lot_id, wm.c.wo_id)):
        users.setdefault(r.lot_id, (r.item_id, set()))[1].add(r.wo_id)
    return users


def _line_findings(site_id: str, window: list[Volume], base: dict[str, float], p: Mapping[str, float],
                   as_of: datetime) -> list[Finding]:
    out = []
    for line_id in sorted({v.line_id for v in window}):
        vs = [v for v in window if v.line_id == line_id]
        good, scrap, r = rate(vs)
        if line_id not in base or r is None or good + scrap < p["min_qty"]:
            continue
        excess = r - base[line_id]
        if excess <= p["variance_limit"]:
            continue
        wos = tuple(v.wo_id for v in sorted(vs, key=lambda v: (-v.scrap, v.wo_id)) if v.scrap > 0 and v.wo_id)
        out.append(Finding(
            detector=KIND, subject_key=f"{KIND}:{line_id}", site_id=site_id,
            severity=_severity(excess, p["variance_limit"]),
            title=(f"Line {line_id} scrapped {r:.1%} over the last {int(p['window_days'])} days against its "
                   f"usual {base[line_id]:.1%}."),
            record_ids=(line_id, *wos),
            figures={"line_id": line_id, "scrap_rate": round(r, 4), "baseline_rate": round(base[line_id], 4),
                     "variance_limit": p["variance_limit"], "good_qty": round(good, 3),
                     "scrap_qty": round(scrap, 3), "window_days": int(p["window_days"])},
            as_of=as_of, suggested=None))
    return out


def _lot_findings(conn: Connection, site_id: str, window: list[Volume], base: dict[str, float],
                  p: Mapping[str, float], as_of: datetime) -> list[Finding]:
    by_wo: dict[str, list[Volume]] = defaultdict(list)
    for v in window:
        if v.wo_id:
            by_wo[v.wo_id].append(v)
    out = []
    for lot_id, (item_id, wos) in _lot_users(conn, sorted(by_wo)).items():
        vs = [v for wo in sorted(wos) for v in by_wo[wo] if v.line_id in base]
        good, scrap, r = rate(vs)
        if r is None or good + scrap < p["min_qty"]:
            continue
        volume_by_line: dict[str, float] = defaultdict(float)
        for v in vs:
            volume_by_line[v.line_id] += v.total
        baseline = sum(base[line] * qty for line, qty in volume_by_line.items()) / (good + scrap)
        excess = r - baseline
        # A lot used alongside the culprit inherits its scrap: the lot's orders must also scrap more than the
        # line's other orders of the window (when there are enough of them to tell).
        _, _, others = rate(v for v in window if v.line_id in volume_by_line and v.wo_id not in wos)
        other_qty = sum(v.total for v in window if v.line_id in volume_by_line and v.wo_id not in wos)
        if excess <= p["variance_limit"] or (
                others is not None and other_qty >= p["min_qty"] and r - others <= p["variance_limit"]):
            continue
        line_id = min(volume_by_line, key=lambda line: (-volume_by_line[line], line))
        wo_ids = tuple(sorted(wos))
        out.append(Finding(
            detector=KIND, subject_key=f"{KIND}:{line_id}:{lot_id}", site_id=site_id,
            severity=_severity(excess, p["variance_limit"]),
            title=(f"Work orders that used lot {lot_id} ({item_id}) scrapped {r:.1%} against the usual "
                   f"{baseline:.1%} on {line_id}."),
            record_ids=(lot_id, line_id, *wo_ids),
            figures={"line_id": line_id, "lot_id": lot_id, "item_id": item_id, "scrap_rate": round(r, 4),
                     "baseline_rate": round(baseline, 4), "variance_limit": p["variance_limit"],
                     "other_orders_rate": None if others is None else round(others, 4),
                     "good_qty": round(good, 3), "scrap_qty": round(scrap, 3), "work_orders": len(wo_ids),
                     "window_days": int(p["window_days"])},
            as_of=as_of,
            suggested=SuggestedAction("place_quality_hold", {
                "lot_id": lot_id, "include_open_work_orders": False,
                "reason": (f"Scrap on work orders using this lot is {r:.1%} against the line's usual "
                           f"{baseline:.1%}: hold it until quality has checked it.")})))
    return out


def detect(conn: Connection, *, site_id: str, params: Mapping[str, float], as_of: datetime,
           today: date) -> list[Finding]:
    """Scrap-spike findings of ``site_id``: lines first, then input lots, each in id order."""
    start = as_of - timedelta(days=params["window_days"])
    history = wo_output(conn, site_id, start - timedelta(days=params["baseline_days"]), start)
    window = wo_output(conn, site_id, start, as_of)
    base = _baselines(history, params["min_qty"])
    return [*_line_findings(site_id, window, base, params, as_of),
            *_lot_findings(conn, site_id, window, base, params, as_of)]


def outcome(conn: Connection, finding: Finding, *, params: Mapping[str, float], since: datetime,
            as_of: datetime, today: date) -> Outcome:
    """Scrap on the finding's line since ``since`` against the finding's baseline + limit."""
    line_id = str(finding.figures["line_id"])
    baseline = float(finding.figures["baseline_rate"] or 0.0)
    good, scrap, r = rate(wo_output(conn, finding.site_id, since, as_of, [line_id]))
    figures: Figures = {"line_id": line_id, "baseline_rate": baseline, "variance_limit": params["variance_limit"],
               "good_qty": round(good, 3), "scrap_qty": round(scrap, 3),
               "scrap_rate": None if r is None else round(r, 4)}
    if r is None or good + scrap < params["min_qty"]:
        return Outcome("no_data", figures, f"Too little production on {line_id} since the action to judge scrap.")
    if r - baseline <= params["variance_limit"]:
        return Outcome("improved", figures, f"Scrap on {line_id} since the action is {r:.1%}, back within the "
                                            f"limit of its usual {baseline:.1%}.")
    return Outcome("not_improving", figures, f"Scrap on {line_id} since the action is still {r:.1%} against "
                                             f"its usual {baseline:.1%}.")
