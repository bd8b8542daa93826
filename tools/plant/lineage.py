"""Where a plant record comes from: the system of each table and how a cited id names a record (data in
``lineage.yaml``), checked against the canonical schema when it is loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from sqlalchemy import Integer

from tools.errors import ToolError
from tools.plant.schema import SENSITIVE_COLUMNS, metadata

__all__ = ["LineageMap", "LineageMapError", "RecordRule", "System", "lineage_map"]

System = Literal["ERP", "MES"]


class LineageMapError(ToolError):
    """``lineage.yaml`` does not fit the schema (an unknown table, a key that is not the primary key, …)."""


@dataclass(frozen=True)
class RecordRule:
    """How a cited id names a record of ``table``."""

    table: str
    system: System
    pattern: re.Pattern[str]
    """The whole id, one named group per primary-key column."""
    as_of_column: str | None
    """The column holding the record's last update (rows written once, never changed); ``None``: none."""

    def key(self, record_id: str) -> dict[str, Any] | None:
        """The primary key ``record_id`` names (integer columns as ints), or ``None`` when it is no id of this
        table."""
        match = self.pattern.fullmatch(record_id)
        if match is None:
            return None
        columns = metadata.tables[self.table].c
        return {name: int(value) if isinstance(columns[name].type, Integer) else value
                for name, value in match.groupdict().items()}


@dataclass(frozen=True)
class LineageMap:
    """The system of every plant table and the ordered rules that map a cited id to its record."""

    systems: dict[str, System]
    rules: tuple[RecordRule, ...]

    def resolve(self, record_id: str) -> tuple[RecordRule, dict[str, Any]] | None:
        """The first rule whose pattern matches all of ``record_id`` and the key it names; ``None``: no record."""
        for rule in self.rules:
            key = rule.key(record_id)
            if key is not None:
                return rule, key
        return None

    @classmethod
    def parse(cls, data: Any) -> LineageMap:
        """Build the map from the YAML's data; :class:`LineageMapError` names what does not fit the schema."""
        if not isinstance(data, dict):
            raise LineageMapError("lineage.yaml: expected a mapping")
        systems: dict[str, System] = {}
        for system, tables in (data.get("systems") or {}).items():
            if system not in ("ERP", "MES"):
                raise LineageMapError(f"lineage.yaml: unknown system {system!r} (ERP or MES)")
            for name in tables:
                if name in systems:
                    raise LineageMapError(f"lineage.yaml: table {name} is placed twice")
                systems[name] = system
        placed = set(systems) | set(data.get("not_records") or [])
        unknown, missing = placed - set(metadata.tables), set(metadata.tables) - placed
        if unknown or missing:
            raise LineageMapError(f"lineage.yaml: unknown tables {sorted(unknown)}, unplaced tables {sorted(missing)}")
        return cls(systems, tuple(_rule(entry, systems) for entry in data.get("records") or []))


def _rule(entry: Any, systems: dict[str, System]) -> RecordRule:
    name = entry.get("table") if isinstance(entry, dict) else None
    if name not in systems:
        raise LineageMapError(f"lineage.yaml: record rule {entry!r} names no table with a system")
    table = metadata.tables[name]
    pattern = re.compile(str(entry.get("id", "")))
    primary = [c.name for c in table.primary_key.columns]
    if sorted(pattern.groupindex) != sorted(primary):
        raise LineageMapError(f"lineage.yaml: the id of {name} must name its primary key {primary}, "
                              f"not {sorted(pattern.groupindex)}")
    column = entry.get("as_of_column")
    # The as-of is read from the row the tool returned: a single-column key finds the row, and a sensitive
    # column (one a policy may hide) never stands in for it.
    if column is not None and (column not in table.c or len(primary) != 1
                               or f"{name}.{column}" in SENSITIVE_COLUMNS):
        raise LineageMapError(f"lineage.yaml: {name}.{column} cannot be the as-of column")
    return RecordRule(name, systems[name], pattern, column)


@cache
def lineage_map() -> LineageMap:
    """The shipped map (``tools/plant/lineage.yaml``), loaded and checked once per process."""
    text = resources.files("tools.plant").joinpath("lineage.yaml").read_text(encoding="utf-8")
    return LineageMap.parse(yaml.safe_load(text))
