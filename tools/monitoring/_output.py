"""Good output and scrap per work order over a time range (MES confirmations and scrap records).

Shared by the scrap detector and its outcome check: scrap rate = scrap ÷ (good + scrap).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from tools.plant.schema import table

__all__ = ["Volume", "rate", "wo_output"]


@dataclass(frozen=True)
class Volume:
    """Good and scrap quantities of one work order on one line."""

    wo_id: str
    line_id: str
    good: float
    scrap: float

    @property
    def total(self) -> float:
        """Good + scrap."""
        return self.good + self.scrap


def rate(volumes: Iterable[Volume]) -> tuple[float, float, float | None]:
    """(good, scrap, scrap rate) summed over ``volumes``; the rate is ``None`` when nothing was produced."""
    good = scrap = 0.0
    for v in volumes:
        good += v.good
        scrap += v.scrap
    return good, scrap, (scrap / (good + scrap) if good + scrap > 0 else None)


def wo_output(conn: Connection, site_id: str, start: datetime, end: datetime,
              line_ids: Iterable[str] | None = None) -> list[Volume]:
    """Per work order (and line) of ``site_id``: good confirmed and scrap recorded in ``[start, end)``,
    ordered by line then work order."""
    pc, sr = table("production_confirmations"), table("scrap_records")
    good_stmt = select(pc.c.wo_id, pc.c.line_id, pc.c.qty_good).where(
        pc.c.site_id == site_id, pc.c.confirmed_at >= start, pc.c.confirmed_at < end)
    scrap_stmt = select(sr.c.wo_id, sr.c.line_id, sr.c.qty).where(
        sr.c.site_id == site_id, sr.c.recorded_at >= start, sr.c.recorded_at < end)
    if line_ids is not None:
        lines = sorted(line_ids)
        good_stmt = good_stmt.where(pc.c.line_id.in_(lines))
        scrap_stmt = scrap_stmt.where(sr.c.line_id.in_(lines))
    good: dict[tuple[str, str], float] = defaultdict(float)
    scrap: dict[tuple[str, str], float] = defaultdict(float)
    for r in conn.execute(good_stmt):
        good[(r.line_id, r.wo_id or "")] += float(r.qty_good)
    for r in conn.execute(scrap_stmt):
        scrap[(r.line_id, r.wo_id or "")] += float(r.qty)
    return [Volume(wo_id=wo, line_id=line, good=good[(line, wo)], scrap=scrap[(line, wo)])
            for line, wo in sorted(good.keys() | scrap.keys())]
