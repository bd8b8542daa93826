"""Aggregates over aggregate-only fields: shown only when they cannot be one row's value.

A role that may see a sensitive field only in aggregate (the policy's ``aggregate_only``) must never receive a
figure that equals one row's value: the open value of a PO with one line, divided by the line's open quantity
(which the role sees), is that line's price. So every aggregate over such a field is computed in SQL together
with the number of rows that feed it and the number of different values of the field among them, and it is
withheld — null, with a :class:`WithheldFigure` saying why — when fewer rows than the policy's ``min_group``
feed it, or when all of them carry the same value (a sum over lines at one price, divided by their quantities,
is that price however many lines there are).

What this does not stop: two totals that are each shown may differ by one line (a supplier's open value with and
without a due-date window, a site's total and its suppliers' totals); closing that needs totals over a fixed
partition with complementary suppression, not a check per query.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func

from tools.scope import DataScope

__all__ = ["WithheldFigure", "group_counts", "withheld"]


class WithheldFigure(BaseModel):
    """A figure left out (null) because showing it would reveal one row's value of an aggregate-only field."""

    field: str = Field(description="The sensitive field the figure aggregates, e.g. 'po_lines.unit_price'.")
    rows: int = Field(description="Rows that feed the figure.")
    min_group: int = Field(description="The fewest rows an aggregate over `field` may cover (policy min_group).")
    reason: str = Field(description="Why the figure is withheld; say this instead of the figure.")


def group_counts(sensitive: ColumnElement[float]) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """The SQL columns to select beside an aggregate over ``sensitive``: the number of rows in the group and
    the number of different values of ``sensitive`` among them (labels ``group_rows``, ``group_values``)."""
    return (func.count().label("group_rows"), func.count(sensitive.distinct()).label("group_values"))


def withheld(scope: DataScope, field_name: str, rows: int, distinct_values: int, *,
             noun: str = "row") -> WithheldFigure | None:
    """Why an aggregate over ``field_name`` must be withheld from ``scope``, or None when it may be shown.

    ``rows`` (``noun``\\ s, e.g. lines) feed the aggregate and carry ``distinct_values`` different values of
    ``field_name`` (both from :func:`group_counts`, in the same query as the aggregate). Never withheld when
    the scope sees the field row by row, nor for an empty group (there is nothing to reveal).
    """
    floor = scope.group_floor(field_name)
    if floor == 0 or rows == 0:
        return None
    column = field_name.rsplit(".", 1)[-1]
    if rows < floor:
        reason = (f"withheld: fewer than {floor} {noun}s contribute (policy min_group for {field_name}); a figure "
                  f"over so few {noun}s would reveal a {noun}'s {column}")
    elif distinct_values < 2:
        reason = (f"withheld: all {rows} contributing {noun}s have the same {column}, so the figure would reveal "
                  f"it (policy min_group for {field_name})")
    else:
        return None
    return WithheldFigure(field=field_name, rows=rows, min_group=floor, reason=reason)
