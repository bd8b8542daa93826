"""The open value of open PO lines (Σ open qty × PO price), summed in SQL per PO currency.

``po_lines.unit_price`` never leaves the database row by row here: it is selected only inside the query that sums
it. For a scope that may see prices only in aggregate, each total is shown only when it cannot be one line's value
(:mod:`tools.aggregates`): the same query counts the lines behind each total and their different prices, and a
total over fewer lines than the policy's ``min_group``, or over lines all at one price, is withheld — null, with
the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Select, func, select

from tools.aggregates import WithheldFigure, group_counts, withheld
from tools.plant.schema import table
from tools.scope import DataScope

__all__ = ["PRICE_FIELD", "OpenValue", "open_value_by_currency", "open_value_by_site_and_currency"]

PRICE_FIELD = "po_lines.unit_price"
"""The sensitive field behind an open value."""


@dataclass(frozen=True)
class OpenValue:
    """Open value per PO currency over some open lines; amounts are never converted or added across currencies."""

    totals: dict[str, float | None] = field(default_factory=dict)
    """PO currency → Σ open qty × unit price, rounded to 2 decimals; None when withheld (see ``withheld``)."""
    withheld: dict[str, WithheldFigure] = field(default_factory=dict)
    """PO currency → why its total is withheld from this scope (only currencies whose total is None)."""


def _open_value_rows(conn: Connection, scope: DataScope, stmt: Select[tuple[object, ...]],
                     *, by_site: bool) -> list[tuple[str, str, float, int, int]] | None:
    """(site or "", currency, Σ open qty × unit price, lines, different prices) over the open lines ``stmt``
    selects, grouped by PO currency (and PO site when ``by_site``). None when the scope may not aggregate
    ``po_lines.unit_price``: the price column is then never selected, and otherwise only inside this query."""
    if not scope.can_aggregate(PRICE_FIELD):
        return None
    po, pl = table("purchase_orders"), table("po_lines")
    inner = stmt.add_columns(
        po.c.site_id.label("value_site_id"), po.c.currency.label("value_currency"),
        ((pl.c.qty_ordered - pl.c.qty_received) * pl.c.unit_price).label("open_value"),
        pl.c.unit_price.label("value_price"),
    ).subquery()
    keys = [inner.c.value_site_id, inner.c.value_currency] if by_site else [inner.c.value_currency]
    totals = (select(*keys, func.sum(inner.c.open_value), *group_counts(inner.c.value_price))
              .group_by(*keys).order_by(*keys))
    return [(r[0] if by_site else "", r[-4], float(r[-3] or 0.0), int(r[-2]), int(r[-1]))
            for r in conn.execute(totals)]


def _open_value(scope: DataScope, groups: list[tuple[str, float, int, int]]) -> OpenValue:
    """The totals of (currency, value, lines, different prices) groups, each withheld when it must be."""
    totals: dict[str, float | None] = {}
    reasons: dict[str, WithheldFigure] = {}
    for currency, value, lines, prices in groups:
        why = withheld(scope, PRICE_FIELD, lines, prices, noun="line")
        totals[currency] = None if why is not None else round(value, 2)
        if why is not None:
            reasons[currency] = why
    return OpenValue(totals=totals, withheld=reasons)


def open_value_by_currency(conn: Connection, scope: DataScope, stmt: Select[tuple[object, ...]]) -> OpenValue | None:
    """Open value per PO currency over the open lines ``stmt`` (from
    :func:`tools.supply.common.open_lines_select`) selects; empty when no line matches.

    None when the scope may not aggregate ``po_lines.unit_price`` at all; a currency's total is None (and
    explained in ``withheld``) when the scope may see prices only in aggregate and that total could be one line's
    price.
    """
    rows = _open_value_rows(conn, scope, stmt, by_site=False)
    if rows is None:
        return None
    return _open_value(scope, [(currency, value, lines, prices) for _, currency, value, lines, prices in rows])


def open_value_by_site_and_currency(conn: Connection, scope: DataScope,
                                    stmt: Select[tuple[object, ...]]) -> dict[str, OpenValue] | None:
    """Site → open value per PO currency, as :func:`open_value_by_currency` but grouped by PO site too (each
    site's totals checked on their own; a site without matching lines is absent). None when the scope may not
    aggregate PO prices."""
    rows = _open_value_rows(conn, scope, stmt, by_site=True)
    if rows is None:
        return None
    groups: dict[str, list[tuple[str, float, int, int]]] = {}
    for site, currency, value, lines, prices in rows:
        groups.setdefault(site, []).append((currency, value, lines, prices))
    return {site: _open_value(scope, found) for site, found in groups.items()}
