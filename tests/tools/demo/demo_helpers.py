"""Shared pieces of the demo-plant tests: the sites and lines the generator builds, table reads and available
stock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from tools.plant.schema import table

__all__ = ["LINES", "OPEN_WO", "SITES", "available_stock", "fetch", "index"]

SITES = ("P100", "P200")
LINES = {
    "P100-PK1": "packaging", "P100-PK2": "packaging", "P100-AS1": "assembly", "P100-AS2": "assembly",
    "P100-MC1": "machining", "P200-MC1": "machining", "P200-MC2": "machining", "P200-AS1": "assembly",
    "P200-PK1": "packaging",
}
OPEN_WO = ("planned", "released", "running")


def fetch(engine: Engine, name: str) -> list[dict[str, Any]]:
    """All rows of a table as dicts."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table(name)))]


def index(rows: Iterable[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in rows}


def available_stock(db: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], float]:
    """Unrestricted stock on hand less reserved, per (item, site)."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    for r in db["inventory"]:
        if r["stock_status"] == "unrestricted":
            out[(r["item_id"], r["site_id"])] += r["qty_on_hand"] - r["qty_reserved"]
    return out
