"""Supply detectors on the projected stock of :mod:`tools.supply.projection` (same semantics as the
``projected_stock`` tool): ``stock_below_zero`` and ``late_po_starves_wo``.

- ``stock_below_zero``: an item's projected stock at the site closes a day below zero within
  ``horizon_days``. Suggested: ``reallocate_inventory`` from another site whose stock stays above its
  reorder minimum over the same horizon (free surplus), else advisory.
- ``late_po_starves_wo``: an open PO line expected at least ``min_days_late`` days after the day an open
  work order's component demand drives the projection below zero within ``horizon_days`` (the
  supply that would cover the order arrives after it is needed). Suggested: ``request_po_date_change``
  pulling the line in to that day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import Connection, select

from tools.monitoring.findings import Finding, Outcome, Severity, SuggestedAction
from tools.plant.schema import table
from tools.scope import DataScope
from tools.supply.common import OpenLine, load_open_lines
from tools.supply.projection import SiteProjection, projected_positions

__all__ = ["LATE_PO", "LATE_PO_DEFAULTS", "STOCK", "STOCK_DEFAULTS", "detect_late_po", "detect_stock",
           "outcome"]

STOCK = "stock_below_zero"
LATE_PO = "late_po_starves_wo"
STOCK_DEFAULTS: Mapping[str, float] = {"horizon_days": 14}
LATE_PO_DEFAULTS: Mapping[str, float] = {"horizon_days": 14, "min_days_late": 1}


def _positions(conn: Connection, site_ids: list[str], today: date, horizon: float,
               item_ids: list[str] | None = None) -> dict[tuple[str, str], SiteProjection]:
    return projected_positions(conn, DataScope.unrestricted(), today=today, horizon_days=int(horizon),
                               item_ids=item_ids, site_ids=site_ids)


def _sites(conn: Connection) -> list[str]:
    sites = table("sites")
    return [r.site_id for r in conn.execute(select(sites.c.site_id).order_by(sites.c.site_id))]


def _severity(days: int) -> Severity:
    return "high" if days <= 3 else "medium" if days <= 7 else "low"


def _surplus(conn: Connection, item_id: str, site_id: str, today: date, horizon: float) -> tuple[str, float] | None:
    """(site, free qty) of the other site with the most stock it will not need over the horizon."""
    others = [s for s in _sites(conn) if s != site_id]
    best: tuple[str, float] | None = None
    for (_, other), proj in sorted(_positions(conn, others, today, horizon, [item_id]).items()):
        free = min(proj.lowest_balance, proj.start_available) - (proj.reorder_min or 0.0)
        if free > 0 and (best is None or free > best[1]):
            best = (other, round(free, 3))
    return best


def detect_stock(conn: Connection, *, site_id: str, params: Mapping[str, float], as_of: datetime,
                 today: date) -> list[Finding]:
    """Items of ``site_id`` projected below zero within the horizon, by item id."""
    out = []
    for (item_id, _), proj in sorted(_positions(conn, [site_id], today, params["horizon_days"]).items()):
        if proj.first_shortage_date is None:
            continue
        days = (proj.first_shortage_date - today).days
        drivers = tuple(dict.fromkeys(e.record_id for e in proj.events if e.balance_after < 0 and e.qty < 0))
        source = _surplus(conn, item_id, site_id, today, params["horizon_days"])
        suggested = None
        if source is not None:
            qty = round(min(proj.shortage_qty, source[1]), 3)
            suggested = SuggestedAction("reallocate_inventory", {
                "item_id": item_id, "qty": qty, "from_site_id": source[0], "to_site_id": site_id,
                "reason": (f"{item_id} at {site_id} is projected {proj.shortage_qty:g} short from "
                           f"{proj.first_shortage_date}; {source[0]} holds stock it will not need.")})
        out.append(Finding(
            detector=STOCK, subject_key=f"{STOCK}:{site_id}:{item_id}", site_id=site_id, severity=_severity(days),
            title=(f"{item_id} at {site_id} is projected to run out on {proj.first_shortage_date} "
                   f"({proj.shortage_qty:g} short at the lowest point)."),
            record_ids=(item_id, *drivers),
            figures={"item_id": item_id, "start_available": proj.start_available,
                     "first_shortage_date": proj.first_shortage_date.isoformat(), "days_to_shortage": days,
                     "shortage_qty": proj.shortage_qty, "horizon_days": int(params["horizon_days"]),
                     "surplus_site": source[0] if source else None},
            as_of=as_of, suggested=suggested))
    return out


def _starved(proj: SiteProjection) -> list[tuple[date, str]]:
    """(day, work order) of component-demand steps that leave the projection below zero."""
    return [(e.date, e.record_id) for e in proj.events if e.kind == "wo_component_demand" and e.balance_after < 0]


def detect_late_po(conn: Connection, *, site_id: str, params: Mapping[str, float], as_of: datetime,
                   today: date) -> list[Finding]:
    """Open PO lines of ``site_id`` arriving after the work orders they would supply run short, by line."""
    positions = _positions(conn, [site_id], today, params["horizon_days"])
    starved = {item: _starved(p) for (item, _), p in positions.items() if p.first_shortage_date is not None}
    starved = {item: wos for item, wos in starved.items() if wos}
    lines: dict[str, list[OpenLine]] = defaultdict(list)
    for ln in load_open_lines(conn, DataScope.unrestricted(), item_ids=set(starved), site_id=site_id):
        lines[ln.item_id].append(ln)
    out = []
    for item_id in sorted(starved):
        first_need = starved[item_id][0][0]
        for ln in sorted(lines[item_id], key=lambda x: (x.po_id, x.line_no)):
            late = (ln.expected_date - first_need).days
            if late < params["min_days_late"]:
                continue
            wos = tuple(dict.fromkeys(wo for day, wo in starved[item_id] if day < ln.expected_date))
            out.append(Finding(
                detector=LATE_PO, subject_key=f"{LATE_PO}:{ln.line_id}", site_id=site_id,
                severity=_severity((first_need - today).days),
                title=(f"PO line {ln.line_id} for {item_id} is expected {ln.expected_date}, {late} days after "
                       f"work order {wos[0]} needs it on {first_need}."),
                record_ids=(ln.line_id, item_id, *wos),
                figures={"item_id": item_id, "po_line": ln.line_id, "expected_date": ln.expected_date.isoformat(),
                         "need_date": first_need.isoformat(), "days_late": late, "qty_open": ln.qty_open,
                         "shortage_qty": positions[(item_id, site_id)].shortage_qty,
                         "horizon_days": int(params["horizon_days"])},
                as_of=as_of,
                suggested=SuggestedAction("request_po_date_change", {
                    "po_id": ln.po_id, "line_no": ln.line_no, "new_promised_date": max(first_need, today),
                    "reason": f"Work order {wos[0]} needs {item_id} on {first_need}; pull the delivery in."})))
    return out


def outcome(conn: Connection, finding: Finding, *, params: Mapping[str, float], since: datetime,
            as_of: datetime, today: date) -> Outcome:
    """Improved once the detector no longer finds the subject (shortage gone / line no longer late)."""
    detect = detect_stock if finding.detector == STOCK else detect_late_po
    still = [f for f in detect(conn, site_id=finding.site_id, params=params, as_of=as_of, today=today)
             if f.subject_key == finding.subject_key]
    if still:
        return Outcome("not_improving", dict(still[0].figures), f"{still[0].title[:-1]} still.")
    return Outcome("improved", {"item_id": finding.figures.get("item_id")},
                   "The shortage is no longer projected within the horizon.")
