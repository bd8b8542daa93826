"""Internals shared by the production, quality, maintenance and executive read tools.

Periods, scoped look-ups of records a caller names, available stock and trend
direction. Everything here takes the caller's :class:`DataScope` and applies it
in SQL, like the tools themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import ColumnElement, Connection, and_, func, select

from tools.errors import ArgumentError, RecordNotFound
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolArgs
from tools.supply.common import open_line_clause

__all__ = [
    "OPEN_MO_STATUSES",
    "UNFINISHED_WO_STATUSES",
    "AssetHealth",
    "Direction",
    "Period",
    "PeriodArgs",
    "Trend",
    "available_stock",
    "direction_of",
    "halves",
    "incoming_po_supply",
    "latest_asset_health",
    "lines_in_scope",
    "not_before",
    "require_ids",
    "require_machines",
    "slope",
]

_T = TypeVar("_T")

Direction = Literal["rising", "stable", "falling", "unknown"]
"""Plain-language direction of a trend; ``unknown`` when there is too little data to tell."""

UNFINISHED_WO_STATUSES = ("planned", "released", "running", "held")
"""Work-order statuses that still have work to do."""

OPEN_MO_STATUSES = ("open", "scheduled", "in_progress")
"""Maintenance-order statuses not yet completed or cancelled."""


@dataclass(frozen=True)
class Period:
    """A run of whole days, ``start`` to ``end`` inclusive."""

    start: date
    end: date

    @property
    def start_dt(self) -> datetime:
        """Midnight at the start of the first day."""
        return datetime.combine(self.start, time.min)

    @property
    def end_dt(self) -> datetime:
        """Midnight after the last day (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min)

    @property
    def days(self) -> list[date]:
        """Every day of the period in order."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def not_before(value: date | None, info: ValidationInfo, other: str) -> date | None:
    """Field-validator body: ``value`` must not precede the (already validated) date in field ``other``."""
    earlier = info.data.get(other)
    if value is not None and earlier is not None and value < earlier:
        raise ValueError(f"must be on or after {other}")
    return value


class PeriodArgs(ToolArgs):
    """Arguments naming a period: the last ``days`` days up to today, or explicit ``start``/``end`` dates."""

    days: int = Field(14, ge=1, le=366, description="Length of the period in days, ending today (inclusive). "
                                                    "Ignored when start is given.")
    start: date | None = Field(None, description="First day of the period (YYYY-MM-DD); overrides days.")
    end: date | None = Field(None, description="Last day of the period, inclusive (YYYY-MM-DD); "
                                               "default today.")

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        return not_before(value, info, "start")

    def period(self, tool: str, today: date) -> Period:
        """The period these arguments name, relative to the plant's ``today``."""
        end = self.end or today
        start = self.start or end - timedelta(days=self.days - 1)
        if start > end:
            # Only reachable with a future start and no end: the default end (today) precedes it.
            raise ArgumentError(tool, "start", f"start {start} is after the end of the period {end}")
        return Period(start=start, end=end)


class Trend(BaseModel):
    """How a measure moved over a period."""

    slope_per_day: float | None = Field(description="Least-squares slope of the measure per day.")
    first_half: float | None = Field(description="The measure over the first half of the period.")
    second_half: float | None = Field(description="The measure over the second half of the period.")
    direction: Direction = Field(description="rising / stable / falling, comparing the two halves.")


def halves(values: Sequence[_T]) -> tuple[Sequence[_T], Sequence[_T]]:
    """The first and second halves of ``values``; the middle element of an odd count is in neither."""
    n = len(values) // 2
    return values[:n], values[len(values) - n:]


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(x, y)`` points; ``None`` with fewer than two distinct x."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def direction_of(first: float | None, second: float | None, *, min_change: float,
                 min_relative: float = 0.0) -> Direction:
    """Direction from ``first`` to ``second``: a change counts only when it is at least ``min_change``
    in absolute terms and at least ``min_relative`` of the first value (so noise reads as stable)."""
    if first is None or second is None:
        return "unknown"
    change = second - first
    if abs(change) < min_change or abs(change) < min_relative * abs(first):
        return "stable"
    return "rising" if change > 0 else "falling"


def require_ids(conn: Connection, entity: str, id_column: ColumnElement[str], ids: Iterable[str],
                *where: ColumnElement[bool]) -> None:
    """Raise :class:`RecordNotFound` for every id in ``ids`` that no row matching ``where`` has."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    found = set(conn.execute(select(id_column).where(id_column.in_(wanted), *where)).scalars())
    missing = [i for i in wanted if i not in found]
    if missing:
        raise RecordNotFound(entity, missing)


def lines_in_scope(conn: Connection, scope: DataScope, *, line_id: str | None = None,
                   site_id: str | None = None) -> dict[str, str]:
    """Line id → site id of the lines in scope, narrowed to ``line_id`` / ``site_id`` when given.

    A named line or site that does not exist in scope raises :class:`RecordNotFound`.
    """
    pl, sites = table("production_lines"), table("sites")
    if site_id is not None:
        require_ids(conn, "site", sites.c.site_id, [site_id], scope.site_clause(sites.c.site_id))
    if line_id is not None:
        require_ids(conn, "production line", pl.c.line_id, [line_id], scope.site_clause(pl.c.site_id))
    stmt = select(pl.c.line_id, pl.c.site_id).where(scope.site_clause(pl.c.site_id))
    if line_id is not None:
        stmt = stmt.where(pl.c.line_id == line_id)
    if site_id is not None:
        stmt = stmt.where(pl.c.site_id == site_id)
    return {row.line_id: row.site_id for row in conn.execute(stmt.order_by(pl.c.line_id))}


def require_machines(conn: Connection, scope: DataScope, machine_ids: Iterable[str]) -> None:
    """Raise :class:`RecordNotFound` for named machines not on a line in scope."""
    m, pl = table("machines"), table("production_lines")
    wanted = sorted(set(machine_ids))
    if not wanted:
        return
    stmt = (select(m.c.machine_id).join(pl, pl.c.line_id == m.c.line_id)
            .where(m.c.machine_id.in_(wanted), scope.site_clause(pl.c.site_id)))
    found = set(conn.execute(stmt).scalars())
    missing = [i for i in wanted if i not in found]
    if missing:
        raise RecordNotFound("machine", missing)


def available_stock(conn: Connection, scope: DataScope,
                    pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """Available stock per ``(site_id, item_id)``: Σ(on hand − reserved) over unrestricted inventory rows.

    Pairs outside the scope read as 0 (their rows are never selected).
    """
    wanted = set(pairs)
    result = dict.fromkeys(wanted, 0.0)
    if not wanted:
        return result
    inv = table("inventory")
    stmt = (
        select(inv.c.site_id, inv.c.item_id, func.sum(inv.c.qty_on_hand - inv.c.qty_reserved).label("qty"))
        .where(
            scope.site_clause(inv.c.site_id),
            inv.c.stock_status == "unrestricted",
            inv.c.site_id.in_(sorted({s for s, _ in wanted})),
            inv.c.item_id.in_(sorted({i for _, i in wanted})),
        )
        .group_by(inv.c.site_id, inv.c.item_id)
    )
    for row in conn.execute(stmt):
        key = (row.site_id, row.item_id)
        if key in result:
            result[key] = float(row.qty or 0.0)
    return result


@dataclass(frozen=True)
class AssetHealth:
    """An asset in scope with its latest health score and the line its machine sits on."""

    asset_id: str
    site_id: str
    name: str
    machine_id: str | None
    line_id: str | None
    criticality: str
    failure_probability: float
    horizon_days: int
    scored_at: datetime
    model_version: str
    top_signal: str


def latest_asset_health(conn: Connection, scope: DataScope, *, min_probability: float = 0.0,
                        site_ids: Collection[str] | None = None, line_ids: Collection[str] | None = None,
                        asset_ids: Collection[str] | None = None) -> list[AssetHealth]:
    """Assets in scope whose latest score has failure probability ≥ ``min_probability``, riskiest first."""
    ah, a, m = table("asset_health"), table("assets"), table("machines")
    latest = (select(ah.c.asset_id, func.max(ah.c.scored_at).label("scored_at"))
              .group_by(ah.c.asset_id).subquery())
    stmt = (
        select(a.c.asset_id, a.c.site_id, a.c.name, a.c.machine_id, m.c.line_id, a.c.criticality,
               ah.c.failure_probability, ah.c.horizon_days, ah.c.scored_at, ah.c.model_version,
               ah.c.top_signal)
        .select_from(
            a.join(latest, latest.c.asset_id == a.c.asset_id)
            .join(ah, and_(ah.c.asset_id == latest.c.asset_id, ah.c.scored_at == latest.c.scored_at))
            .outerjoin(m, m.c.machine_id == a.c.machine_id))
        .where(scope.site_clause(a.c.site_id), ah.c.failure_probability >= min_probability)
        .order_by(ah.c.failure_probability.desc(), a.c.asset_id)
    )
    if site_ids is not None:
        stmt = stmt.where(a.c.site_id.in_(sorted(site_ids)))
    if line_ids is not None:
        stmt = stmt.where(m.c.line_id.in_(sorted(line_ids)))
    if asset_ids is not None:
        stmt = stmt.where(a.c.asset_id.in_(sorted(asset_ids)))
    return [AssetHealth(r.asset_id, r.site_id, r.name, r.machine_id, r.line_id, r.criticality,
                        float(r.failure_probability), int(r.horizon_days), r.scored_at, r.model_version,
                        r.top_signal) for r in conn.execute(stmt)]




def incoming_po_supply(conn: Connection, scope: DataScope,
                       pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[date, float]]]:
    """Open PO quantity per ``(site_id, item_id)`` as (expected receipt day, qty), earliest first.

    Open line: line_status open, PO approved/sent/acknowledged, qty_received < qty_ordered. Expected receipt
    is the promised date, else the need date (a past-due line keeps its past date: callers asking "due by
    day D" with D ≥ today count it, as if it arrived today).
    """
    wanted = set(pairs)
    out: dict[tuple[str, str], list[tuple[date, float]]] = defaultdict(list)
    if not wanted:
        return out
    po, pl = table("purchase_orders"), table("po_lines")
    stmt = (select(po.c.site_id, pl.c.item_id, (pl.c.qty_ordered - pl.c.qty_received).label("qty"),
                   func.coalesce(pl.c.promised_date, pl.c.need_date).label("due"))
            .join(po, po.c.po_id == pl.c.po_id)
            .where(scope.site_clause(po.c.site_id), open_line_clause(po, pl),
                   po.c.site_id.in_(sorted({s for s, _ in wanted})),
                   pl.c.item_id.in_(sorted({i for _, i in wanted})))
            .order_by(func.coalesce(pl.c.promised_date, pl.c.need_date), pl.c.po_id, pl.c.line_no))
    for r in conn.execute(stmt):
        if (r.site_id, r.item_id) in wanted:
            out[(r.site_id, r.item_id)].append((r.due, float(r.qty)))
    return out
