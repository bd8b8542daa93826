"""A content hash of the plant: equal plants hash equally on any run and database."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, inspect, select

from tools.plant.schema import metadata

__all__ = ["plant_content_hash"]


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def plant_content_hash(engine: Engine) -> str:
    """SHA-256 over every plant table's rows, tables by name, rows by primary key, values canonical.

    Rows are sorted in Python on their canonical primary key, so the order does not depend on the
    database's collation. Tables that do not exist hash as empty.
    """
    digest = hashlib.sha256()
    existing = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        for name in sorted(metadata.tables):
            table = metadata.tables[name]
            columns = list(table.columns)
            digest.update(json.dumps(["table", name, [c.name for c in columns]]).encode())
            if name not in existing:
                continue
            pk = [i for i, c in enumerate(columns) if c.primary_key] or list(range(len(columns)))
            rows = [[_canonical(v) for v in row] for row in conn.execute(select(*columns))]
            rows.sort(key=lambda r: json.dumps([r[i] for i in pk]))
            for row in rows:
                digest.update(json.dumps(row, ensure_ascii=False).encode())
                digest.update(b"\n")
    return digest.hexdigest()
