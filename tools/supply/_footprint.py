"""Where items are present: the (item, site) footprint query, built once per shape.

:func:`tools.supply.common.item_sites` runs on most supply tool calls (every named item is checked against the
caller's scope). Building its six-part UNION as SQLAlchemy objects on each call cost more than running it, so the
statement is built once per *shape* (is the scope every site, are items named, is a site named) with bound
parameters, and each call only binds the caller's values. Nothing is cached but the statement: the rows are read
from the database on every call, since actions move stock. :func:`footprint_reference` keeps the per-call build
that the tests compare the prepared statements with.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, select, true, union

from tools.plant.schema import table
from tools.scope import DataScope

__all__ = ["footprint", "footprint_reference"]

SiteClause = Callable[[ColumnElement[str]], ColumnElement[bool]]


def _build(site_clause: SiteClause, item_filter: Any, site_filter: Any) -> Select[tuple[str, str]]:
    """The footprint statement with ``site_clause`` restricting each part, filtered by item and site when given."""
    inv, rp, fc, lots, wo = (table(n) for n in ("inventory", "reorder_points", "demand_forecast", "lots",
                                                "work_orders"))
    po, pl, bom = table("purchase_orders"), table("po_lines"), table("bom_lines")
    parts: list[Select[tuple[str, str]]] = [
        _pair(t.c.item_id, t.c.site_id).where(site_clause(t.c.site_id)) for t in (inv, rp, fc, lots, wo)
    ]
    parts.append(_pair(pl.c.item_id, po.c.site_id)
                 .join(po, po.c.po_id == pl.c.po_id).where(site_clause(po.c.site_id)))
    # A component needed by a work order at a site is present there even without stock.
    parts.append(_pair(bom.c.component_item_id, wo.c.site_id)
                 .join(wo, wo.c.item_id == bom.c.parent_item_id).where(site_clause(wo.c.site_id)))
    sub = union(*parts).subquery()
    stmt = select(sub.c.item_id, sub.c.site_id)
    if item_filter is not None:
        stmt = stmt.where(sub.c.item_id.in_(item_filter))
    if site_filter is not None:
        stmt = stmt.where(sub.c.site_id == site_filter)
    return stmt


def _pair(item: ColumnElement[Any], site: ColumnElement[Any]) -> Select[tuple[str, str]]:
    """``SELECT item AS item_id, site AS site_id``: the union's parts name their columns alike."""
    return select(item.label("item_id"), site.label("site_id"))


def footprint_reference(scope: DataScope, item_ids: Collection[str] | None,
                        site_id: str | None) -> Select[tuple[str, str]]:
    """(item_id, site_id) pairs where an item has any record at a site in scope, built afresh (the reference)."""
    return _build(scope.site_clause, sorted(item_ids) if item_ids is not None else None, site_id)


def _all_sites(_column: ColumnElement[str]) -> ColumnElement[bool]:
    """The clause of a scope of every site (as :meth:`DataScope.site_clause` writes it)."""
    return true()


def _scope_sites(column: ColumnElement[str]) -> ColumnElement[bool]:
    """The clause of a scope of some sites, their ids bound per call."""
    return column.in_(bindparam("scope_sites", expanding=True))


@cache
def _prepared(every_site: bool, items: bool, site: bool) -> Select[tuple[str, str]]:
    """The footprint statement of one shape; the values come as parameters (the cache holds 8 statements at most)."""
    item_filter: BindParameter[Any] | None = bindparam("item_ids", expanding=True) if items else None
    site_filter: BindParameter[str] | None = bindparam("site_id") if site else None
    return _build(_all_sites if every_site else _scope_sites, item_filter, site_filter)


def footprint(scope: DataScope, item_ids: Collection[str] | None,
              site_id: str | None) -> tuple[Select[tuple[str, str]], dict[str, Any]]:
    """The footprint statement for this call and its parameters: a prepared one, or for a scope of no site (whose
    clause is a constant false, not a list) the reference build."""
    if scope.sites is not None and not scope.sites:
        return footprint_reference(scope, item_ids, site_id), {}
    params: dict[str, Any] = {}
    if scope.sites is not None:
        params["scope_sites"] = sorted(scope.sites)
    if item_ids is not None:
        params["item_ids"] = sorted(item_ids)
    if site_id is not None:
        params["site_id"] = site_id
    return _prepared(scope.sites is None, item_ids is not None, site_id is not None), params
