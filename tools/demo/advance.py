"""A simulated next shift for the demo plant: new production on one line after the plant's as-of time.

The demo plant is static: nothing happens after its as-of time. To show what a monitor does after an action (the
scrap back to its baseline once the suspect lot is held), :func:`advance_shift` writes one shift of production for a
line — MES good-output confirmations and scrap records on the line's open work order, its components issued from
lots other than the ones to avoid (the held lot), stock taken from them — at the line's usual scrap rate (its own
history) or a given one (a bad shift), and moves the plant's as-of time to the end of the shift.

It is a simulation, clearly so: deterministic (no clock, no randomness) and only for the demo and tests. Runtimes
cache the as-of time, so build a new one after advancing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, update

from tools.errors import RecordNotFound
from tools.plant.schema import table

__all__ = ["SHIFT_HOURS", "ShiftResult", "advance_shift", "usual_scrap_rate"]

SHIFT_HOURS = 8.0
_CONFIRMATIONS = 4
_OPEN = ("released", "running")
_BASELINE_DAYS = (10, 38)
"""The line's usual scrap rate: its production between 38 and 10 days before the as-of time (before any spike)."""


@dataclass(frozen=True)
class ShiftResult:
    """What the simulated shift wrote."""

    line_id: str
    wo_id: str
    started: datetime
    ended: datetime
    good: float
    scrap: float
    scrap_rate: float
    issued: tuple[tuple[str, float], ...]
    """(lot, quantity) issued to the work order."""


def _as_of(conn: Connection) -> datetime:
    meta = table("plant_meta")
    value = conn.execute(select(meta.c.value).where(meta.c.key == "as_of")).scalar_one_or_none()
    if value is None:
        raise RecordNotFound("plant_meta", ["as_of"])
    return datetime.fromisoformat(value)


def usual_scrap_rate(conn: Connection, line_id: str, as_of: datetime) -> float:
    """The line's scrap ÷ (good + scrap) over its baseline period before ``as_of`` (0 without history)."""
    start, end = as_of - timedelta(days=_BASELINE_DAYS[1]), as_of - timedelta(days=_BASELINE_DAYS[0])
    pc, sr = table("production_confirmations"), table("scrap_records")
    good = conn.execute(select(func.coalesce(func.sum(pc.c.qty_good), 0.0)).where(
        pc.c.line_id == line_id, pc.c.confirmed_at >= start, pc.c.confirmed_at < end)).scalar_one()
    scrap = conn.execute(select(func.coalesce(func.sum(sr.c.qty), 0.0)).where(
        sr.c.line_id == line_id, sr.c.recorded_at >= start, sr.c.recorded_at < end)).scalar_one()
    total = float(good) + float(scrap)
    return float(scrap) / total if total > 0 else 0.0


def _work_order(conn: Connection, line_id: str) -> tuple[str, str, str]:
    wo = table("work_orders")
    row = conn.execute(select(wo.c.wo_id, wo.c.item_id, wo.c.site_id).where(
        wo.c.line_id == line_id, wo.c.status.in_(_OPEN)).order_by(wo.c.planned_start, wo.c.wo_id).limit(1)).first()
    if row is None:
        raise RecordNotFound("open work order on line", [line_id])
    return str(row.wo_id), str(row.item_id), str(row.site_id)


def _issue(conn: Connection, wo_id: str, item_id: str, site_id: str, qty: float,
           avoid: set[str]) -> list[tuple[str, float]]:
    """Issue ``qty`` of ``item_id`` to ``wo_id`` from unrestricted stock of available lots not in ``avoid``."""
    inv, lots, wm = table("inventory"), table("lots"), table("wo_materials")
    rows = conn.execute(select(inv.c.location, inv.c.lot_id, inv.c.qty_on_hand, inv.c.qty_reserved)
                        .join(lots, lots.c.lot_id == inv.c.lot_id)
                        .where(inv.c.item_id == item_id, inv.c.site_id == site_id, lots.c.status == "available",
                               inv.c.stock_status == "unrestricted", inv.c.qty_on_hand > inv.c.qty_reserved)
                        .order_by(lots.c.received_at, inv.c.lot_id, inv.c.location)).all()
    issued, left = [], qty
    for r in rows:
        if left <= 1e-9 or r.lot_id in avoid:
            continue
        take = round(min(left, float(r.qty_on_hand) - float(r.qty_reserved)), 3)
        conn.execute(update(inv).where(inv.c.site_id == site_id, inv.c.location == r.location,
                                       inv.c.item_id == item_id, inv.c.lot_id == r.lot_id)
                     .values(qty_on_hand=inv.c.qty_on_hand - take))
        current = conn.execute(select(wm.c.qty_issued).where(wm.c.wo_id == wo_id, wm.c.lot_id == r.lot_id)).first()
        if current is None:
            conn.execute(wm.insert().values(wo_id=wo_id, lot_id=r.lot_id, item_id=item_id, qty_issued=take))
        else:
            conn.execute(update(wm).where(wm.c.wo_id == wo_id, wm.c.lot_id == r.lot_id)
                         .values(qty_issued=wm.c.qty_issued + take))
        issued.append((str(r.lot_id), take))
        left -= take
    return issued


def _receive(conn: Connection, wo_id: str, good: float) -> float:
    """Book ``good`` into the work order's output lot and its stock (ERP and MES stay reconciled); what was booked
    (nothing when the order has no output lot yet: its completed quantity is left as it is)."""
    lots, inv = table("lots"), table("inventory")
    lot = conn.execute(select(lots.c.lot_id).where(lots.c.wo_id == wo_id).order_by(lots.c.lot_id).limit(1)).first()
    if lot is None:
        return 0.0
    conn.execute(update(lots).where(lots.c.lot_id == lot.lot_id).values(qty_received=lots.c.qty_received + good))
    row = conn.execute(select(inv.c.site_id, inv.c.location, inv.c.item_id).where(inv.c.lot_id == lot.lot_id)
                       .order_by(inv.c.location).limit(1)).first()
    if row is not None:
        conn.execute(update(inv).where(inv.c.lot_id == lot.lot_id, inv.c.site_id == row.site_id,
                                       inv.c.location == row.location, inv.c.item_id == row.item_id)
                     .values(qty_on_hand=inv.c.qty_on_hand + good))
    return good


def advance_shift(engine: Engine, *, line_id: str, hours: float = SHIFT_HOURS, scrap_rate: float | None = None,
                  avoid_lots: Iterable[str] = ()) -> ShiftResult:
    """Write one simulated shift of ``line_id`` after the plant's as-of time and move the as-of time past it.

    ``scrap_rate``: the share scrapped (default: the line's usual rate, :func:`usual_scrap_rate`); ``avoid_lots``:
    lots whose stock must not be used (a held lot). The good output goes into the order's output lot. Raises
    :class:`~tools.errors.RecordNotFound` when the line has no released or running work order.
    """
    with engine.begin() as conn:
        start = _as_of(conn)
        end = start + timedelta(hours=hours)
        wo_id, item_id, site_id = _work_order(conn, line_id)
        rate = usual_scrap_rate(conn, line_id, start) if scrap_rate is None else scrap_rate
        per_hour = float(conn.execute(select(table("production_lines").c.rate_per_hour).where(
            table("production_lines").c.line_id == line_id)).scalar_one())
        total = round(per_hour * hours * 0.85)
        scrap = float(round(total * rate))
        good = float(total) - scrap
        pc, sr, wo = table("production_confirmations"), table("scrap_records"), table("work_orders")
        seq = int(conn.execute(select(func.count()).select_from(pc).where(
            pc.c.confirmation_id.like("PC-NS%"))).scalar_one())
        for n in range(_CONFIRMATIONS):
            at = start + timedelta(hours=hours * (n + 0.5) / _CONFIRMATIONS)
            share = (good // _CONFIRMATIONS) + (good % _CONFIRMATIONS if n == _CONFIRMATIONS - 1 else 0)
            lost = (scrap // _CONFIRMATIONS) + (scrap % _CONFIRMATIONS if n == _CONFIRMATIONS - 1 else 0)
            key = f"NS{seq + n + 1:04d}"
            conn.execute(pc.insert().values(confirmation_id=f"PC-{key}", wo_id=wo_id, site_id=site_id,
                                            line_id=line_id, confirmed_at=at, qty_good=share))
            if lost > 0:
                conn.execute(sr.insert().values(scrap_id=f"SR-{key}", site_id=site_id, line_id=line_id, wo_id=wo_id,
                                                lot_id=None, item_id=item_id, qty=lost, reason_code="simulated_shift",
                                                recorded_at=at))
        bom = table("bom_lines")
        issued: list[tuple[str, float]] = []
        for b in conn.execute(select(bom.c.component_item_id, bom.c.qty_per).where(
                bom.c.parent_item_id == item_id).order_by(bom.c.component_item_id)):
            issued += _issue(conn, wo_id, str(b.component_item_id), site_id, round(float(b.qty_per) * total, 3),
                             set(avoid_lots))
        received = _receive(conn, wo_id, good)
        conn.execute(update(wo).where(wo.c.wo_id == wo_id).values(
            qty_completed=wo.c.qty_completed + received, qty_scrapped=wo.c.qty_scrapped + scrap, status="running"))
        conn.execute(update(table("plant_meta")).where(table("plant_meta").c.key == "as_of")
                     .values(value=end.isoformat()))
    return ShiftResult(line_id=line_id, wo_id=wo_id, started=start, ended=end, good=good, scrap=scrap,
                       scrap_rate=rate, issued=tuple(issued))
