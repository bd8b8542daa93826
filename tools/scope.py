"""The data scope: which sites' rows and which fields a caller may receive.

The gate builds a scope for each call; every tool applies it inside its SQL
(site filter in WHERE, masked columns never selected, aggregates over scoped
rows only), so out-of-scope data never leaves the database layer. An aggregate
over an aggregate-only field is shown only over a group large and varied enough
(the policy's ``min_group``; see :mod:`tools.aggregates`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.sql.elements import ColumnElement as _ColumnElement

__all__ = ["DEFAULT_MIN_GROUP", "DataScope"]

DEFAULT_MIN_GROUP = 3
"""Rows an aggregate over an aggregate-only field needs when the policy names no ``min_group`` for it."""


@dataclass(frozen=True)
class DataScope:
    """Row and field boundaries for one tool call.

    Fields are named ``"table.column"`` (e.g. ``"po_lines.unit_price"``).
    """

    sites: frozenset[str] | None = None
    """Sites whose rows may be returned; ``None`` means every site."""
    masked_fields: frozenset[str] = field(default_factory=frozenset)
    """Fields never selected, not even into aggregates."""
    aggregate_only_fields: frozenset[str] = field(default_factory=frozenset)
    """Fields that may feed an aggregate over several rows but are never returned row by row."""
    min_group: Mapping[str, int] = field(default_factory=dict, hash=False)
    """Aggregate-only field → the fewest rows an aggregate over it may cover (the policy's ``min_group``);
    :data:`DEFAULT_MIN_GROUP` for an aggregate-only field not named here."""

    @classmethod
    def unrestricted(cls) -> DataScope:
        """A scope that sees every site and every field (CLI use before a gate, tests)."""
        return cls()

    @classmethod
    def for_sites(cls, sites: Iterable[str], masked: Iterable[str] = ()) -> DataScope:
        """A scope limited to ``sites`` with ``masked`` fields hidden."""
        return cls(sites=frozenset(sites), masked_fields=frozenset(masked))

    def allows_site(self, site_id: str | None) -> bool:
        """True when rows of ``site_id`` may be returned."""
        return self.sites is None or (site_id is not None and site_id in self.sites)

    def site_clause(self, column: _ColumnElement[str]) -> ColumnElement[bool]:
        """A WHERE clause restricting ``column`` (a site_id column) to the scope."""
        if self.sites is None:
            return true()
        if not self.sites:
            return false()
        return column.in_(sorted(self.sites))

    def can_see(self, field_name: str) -> bool:
        """True when ``field_name`` may be returned row by row."""
        return field_name not in self.masked_fields and field_name not in self.aggregate_only_fields

    def can_aggregate(self, field_name: str) -> bool:
        """True when ``field_name`` may feed an aggregate (sum, average) over scoped rows."""
        return field_name not in self.masked_fields

    def group_floor(self, field_name: str) -> int:
        """The fewest rows an aggregate over ``field_name`` may cover: 0 when the field is visible row by row
        (no floor), the policy's ``min_group`` when it is aggregate-only."""
        if field_name not in self.aggregate_only_fields:
            return 0
        return max(self.min_group.get(field_name, DEFAULT_MIN_GROUP), 2)

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary for audit records."""
        out: dict[str, object] = {
            "sites": sorted(self.sites) if self.sites is not None else "*",
            "masked_fields": sorted(self.masked_fields),
            "aggregate_only_fields": sorted(self.aggregate_only_fields),
        }
        if self.aggregate_only_fields:
            out["min_group"] = {f: self.group_floor(f) for f in sorted(self.aggregate_only_fields)}
        return out
