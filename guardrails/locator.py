"""Which site a named record belongs to, so the gate can refuse foreign ids up front.

A record's site never changes, so answers are cached for the life of the
resolver; records the database does not know resolve to ``None`` (the tool then
answers "not found" inside the caller's scope).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, Select, select

from tools.plant.schema import table

__all__ = ["RECORD_FIELDS", "SiteResolver", "SqlSiteResolver"]

RECORD_FIELDS: dict[str, str] = {
    "site": "site", "site_id": "site", "sites": "site", "site_ids": "site",
    "po_id": "po", "po_ids": "po",
    "lot_id": "lot", "lot_ids": "lot",
    "wo_id": "wo", "wo_ids": "wo", "work_order_id": "wo",
    "line_id": "line", "line_ids": "line",
    "machine_id": "machine", "machine_ids": "machine",
    "asset_id": "asset", "asset_ids": "asset",
    "so_id": "so", "so_ids": "so",
    "qe_id": "qe", "mo_id": "mo",
    "from_site": "site", "to_site": "site", "from_site_id": "site", "to_site_id": "site",
}
"""Argument names that name a site-bound record, and the kind of record they name."""


class SiteResolver(Protocol):
    """Answers which site a record belongs to."""

    def site_of(self, kind: str, record_id: str) -> str | None:
        """The site of record ``record_id`` of ``kind``, or ``None`` if unknown."""
        ...


def _queries() -> dict[str, tuple[ColumnElement[Any], Select[Any]]]:
    lines, machines = table("production_lines"), table("machines")
    assets, mos = table("assets"), table("maintenance_orders")
    return {
        "po": (table("purchase_orders").c.po_id, select(table("purchase_orders").c.site_id)),
        "lot": (table("lots").c.lot_id, select(table("lots").c.site_id)),
        "wo": (table("work_orders").c.wo_id, select(table("work_orders").c.site_id)),
        "line": (lines.c.line_id, select(lines.c.site_id)),
        "machine": (machines.c.machine_id,
                    select(lines.c.site_id).select_from(machines.join(lines, machines.c.line_id == lines.c.line_id))),
        "asset": (assets.c.asset_id, select(assets.c.site_id)),
        "so": (table("sales_orders").c.so_id, select(table("sales_orders").c.site_id)),
        "qe": (table("quality_events").c.qe_id, select(table("quality_events").c.site_id)),
        "mo": (mos.c.mo_id,
               select(assets.c.site_id).select_from(mos.join(assets, mos.c.asset_id == assets.c.asset_id))),
    }


class SqlSiteResolver:
    """Looks sites up in the plant database, caching every answer."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache: dict[tuple[str, str], str | None] = {}
        self._queries = _queries()

    def site_of(self, kind: str, record_id: str) -> str | None:
        """The site of ``record_id``; sites are returned as-is for kind ``site``."""
        if kind == "site":
            return record_id
        key = (kind, record_id)
        if key in self._cache:
            return self._cache[key]
        spec = self._queries.get(kind)
        if spec is None:
            return None
        id_column, query = spec
        with self._engine.connect() as conn:
            site = conn.execute(query.where(id_column == record_id)).scalar_one_or_none()
        if site is not None:  # unknown ids may be created later; only cache hits
            self._cache[key] = site
        return site
