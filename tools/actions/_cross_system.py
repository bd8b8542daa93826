"""Cross-system guards: what MES says about the stock an action would take from ERP.

Actions never check permissions, but their preconditions check the plant's state; these
guards are the part of that state another system owns:

- **Held lots** (:func:`named_lot_problem`, :func:`held_stock_note`): a lot MES holds
  (``lots.status`` in :data:`HELD_LOT_STATUSES`) may not be moved or reserved, whatever ERP
  shows. When ERP still shows its stock unrestricted, the reason names that contradiction, so
  the requester knows why stock they see in ERP cannot be used.
- **Line requirements** (:func:`line_constraint`): moving stock away from a site must not
  starve the open work orders (planned, released, running) its lines start within a horizon.
  A work order still needs ``bom qty_per × qty_planned − qty issued`` of a component (the same
  rule as the stock projection, :func:`tools.supply.projection.open_component_need`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from tools.actions._common import OPEN_WO_STATUSES, AnyRow
from tools.ops._reconciliation import HELD_LOT_STATUSES
from tools.plant.schema import table
from tools.supply.projection import open_component_need

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "HELD_LOT_STATUSES",
    "HeldLot",
    "LineConstraint",
    "WorkOrderNeed",
    "held_lots",
    "held_stock_note",
    "line_constraint",
    "named_lot_problem",
]

DEFAULT_HORIZON_DAYS = 14
"""Work orders planned to start within this many days of the data's as-of time count as line needs."""

_EPS = 1e-9
_MAX_WOS_NAMED = 6
_HELD_WORDS = {"quality_hold": "on quality hold", "blocked": "blocked"}


def _held_words(status: str) -> str:
    return _HELD_WORDS.get(status, status)


# ---------------------------------------------------------------------------- held lots


@dataclass(frozen=True)
class HeldLot:
    """A lot MES holds, with what ERP shows of its stock at one site."""

    lot_id: str
    mes_status: str
    """``lots.status``: quality_hold or blocked."""
    unrestricted: float
    """On hand in rows ERP shows as unrestricted (usable): the MES/ERP contradiction when > 0."""
    restricted: dict[str, float]
    """On hand per other ERP stock status (quality_inspection, blocked)."""

    def describe(self, site_id: str) -> str:
        """``lot L is on quality hold in MES although ERP shows N unrestricted at P100`` (or its ERP status)."""
        head = f"lot {self.lot_id} is {_held_words(self.mes_status)} in MES"
        if self.unrestricted > _EPS:
            return f"{head} although ERP shows {self.unrestricted:g} unrestricted at {site_id}"
        erp = ", ".join(f"{qty:g} {status}" for status, qty in sorted(self.restricted.items()) if qty > _EPS)
        return f"{head} ({erp} in ERP at {site_id})" if erp else head


def _held_rows(conn: Connection, item_id: str, site_id: str, lot_id: str | None) -> Sequence[AnyRow]:
    inv, lots = table("inventory"), table("lots")
    stmt = (select(lots.c.lot_id, lots.c.status, inv.c.stock_status, func.sum(inv.c.qty_on_hand).label("qty"))
            .join(inv, inv.c.lot_id == lots.c.lot_id)
            .where(inv.c.item_id == item_id, inv.c.site_id == site_id, lots.c.status.in_(HELD_LOT_STATUSES),
                   inv.c.qty_on_hand > 0)
            .group_by(lots.c.lot_id, lots.c.status, inv.c.stock_status)
            .order_by(lots.c.lot_id, inv.c.stock_status))
    if lot_id is not None:
        stmt = stmt.where(lots.c.lot_id == lot_id)
    return conn.execute(stmt).all()


def held_lots(conn: Connection, item_id: str, site_id: str, lot_id: str | None = None) -> list[HeldLot]:
    """Lots of ``item_id`` that MES holds and that have stock on hand at ``site_id`` (one lot when named)."""
    found: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for r in _held_rows(conn, item_id, site_id, lot_id):
        found[(r.lot_id, r.status)][r.stock_status] = float(r.qty)
    return [HeldLot(lot, status, by_status.get("unrestricted", 0.0),
                    {s: q for s, q in by_status.items() if s != "unrestricted"})
            for (lot, status), by_status in found.items()]


def named_lot_problem(conn: Connection, lot: AnyRow, site_id: str) -> str | None:
    """Why stock of the named ``lot`` at ``site_id`` may not be taken because of its MES or ERP status.

    MES holds the lot: ``lot L is on quality hold in MES although ERP shows N unrestricted at P100;
    resolve the hold first``. MES has it available but ERP holds all its stock at the site (no
    unrestricted row): ``lot L is available in MES but ERP shows its stock at P100 as
    quality_inspection``. None otherwise (a consumed lot or a plain shortage is the caller's reason).
    """
    if lot.status in HELD_LOT_STATUSES:
        held = held_lots(conn, lot.item_id, site_id, lot.lot_id)
        what = held[0].describe(site_id) if held else f"lot {lot.lot_id} is {_held_words(lot.status)} in MES"
        return f"{what}; resolve the hold first"
    if lot.status != "available":
        return None
    inv = table("inventory")
    statuses = {r.stock_status for r in conn.execute(
        select(inv.c.stock_status).where(inv.c.lot_id == lot.lot_id, inv.c.site_id == site_id,
                                         inv.c.qty_on_hand > 0))}
    if statuses and "unrestricted" not in statuses:
        return (f"lot {lot.lot_id} is available in MES but ERP shows its stock at {site_id} as "
                f"{' / '.join(sorted(statuses))}")
    return None


def held_stock_note(conn: Connection, item_id: str, site_id: str) -> str:
    """For a shortage reason: ``; not usable: lot L is on quality hold in MES although ERP shows N ...``.

    Empty when no held lot of the item has stock at the site.
    """
    held = held_lots(conn, item_id, site_id)
    return "; not usable: " + "; ".join(h.describe(site_id) for h in held) if held else ""


# ---------------------------------------------------------------------------- line requirements


@dataclass(frozen=True)
class WorkOrderNeed:
    """What one open work order still needs of an item (from the site's stock)."""

    wo_id: str
    line_id: str
    status: str
    planned_start: datetime
    need: float


@dataclass(frozen=True)
class LineConstraint:
    """The open work orders at a site that need an item within the horizon, against a proposed move."""

    site_id: str
    item_id: str
    horizon_days: int
    free: float
    """Free stock of the item at the site before the move (unrestricted rows of available lots)."""
    qty: float
    """The quantity the action takes away."""
    needs: tuple[WorkOrderNeed, ...]

    @property
    def required(self) -> float:
        """Total still needed by the work orders within the horizon."""
        return sum(n.need for n in self.needs)

    @property
    def free_after(self) -> float:
        """Free stock left at the site after the move."""
        return self.free - self.qty

    @property
    def ok(self) -> bool:
        """True when the stock left still covers the lines' needs."""
        return self.free_after + _EPS >= self.required

    def reason(self) -> str:
        """``P100-AS1 needs 120 of CP-2039 for WO-1 (released) within 14 days; moving 50 leaves 80 free at P100``."""
        by_line: dict[str, list[WorkOrderNeed]] = defaultdict(list)
        for n in self.needs:
            by_line[n.line_id].append(n)
        parts = []
        for line_id, needs in sorted(by_line.items()):
            named = ", ".join(f"{n.wo_id} ({n.status})" for n in needs[:_MAX_WOS_NAMED])
            more = f" and {len(needs) - _MAX_WOS_NAMED} more" if len(needs) > _MAX_WOS_NAMED else ""
            parts.append(f"{line_id} needs {sum(n.need for n in needs):g} of {self.item_id} for {named}{more}")
        return (f"{'; '.join(parts)} within {self.horizon_days} days; moving {self.qty:g} leaves "
                f"{max(self.free_after, 0.0):g} free at {self.site_id} ({self.required:g} needed)")


def _needs(conn: Connection, site_id: str, item_id: str, until: datetime) -> list[WorkOrderNeed]:
    wo, bom, wm = table("work_orders"), table("bom_lines"), table("wo_materials")
    issued = (select(wm.c.wo_id, func.sum(wm.c.qty_issued).label("issued"))
              .where(wm.c.item_id == item_id).group_by(wm.c.wo_id).subquery())
    stmt = (select(wo.c.wo_id, wo.c.line_id, wo.c.status, wo.c.planned_start, wo.c.qty_planned, bom.c.qty_per,
                   func.coalesce(issued.c.issued, 0.0).label("issued"))
            .join(bom, bom.c.parent_item_id == wo.c.item_id)
            .outerjoin(issued, issued.c.wo_id == wo.c.wo_id)
            .where(wo.c.site_id == site_id, bom.c.component_item_id == item_id,
                   wo.c.status.in_(OPEN_WO_STATUSES), wo.c.planned_start < until)
            .order_by(wo.c.planned_start, wo.c.wo_id))
    out = []
    for r in conn.execute(stmt):
        need = open_component_need(float(r.qty_per), float(r.qty_planned), float(r.issued))
        if need > _EPS:
            out.append(WorkOrderNeed(r.wo_id, r.line_id, r.status, r.planned_start, need))
    return out


def line_constraint(conn: Connection, *, site_id: str, item_id: str, qty: float, free: float, as_of: datetime,
                    horizon_days: int = DEFAULT_HORIZON_DAYS) -> LineConstraint:
    """The site's line needs for ``item_id`` within ``horizon_days`` of ``as_of``, against taking ``qty``.

    ``free`` is the site's free stock of the item before the move; the result is ``ok`` while the
    stock left after the move still covers what those work orders need.
    """
    needs = _needs(conn, site_id, item_id, as_of + timedelta(days=horizon_days))
    return LineConstraint(site_id, item_id, horizon_days, free, qty, tuple(needs))
