"""A disposable copy of the demo plant for eval cases, with table snapshots and in-place restore.

The template JIDOKA_HOME is never written: its ``plant.db`` and manifest are copied once into a work
folder; the runtime (policy, gate, approvals, audit on a fresh ``state.db``) is built once on the copy.
Before each case the plant is restored from a pristine copy with SQLite's backup API when it differs,
so every case starts from the same plant at the cost of a page copy, not a new runtime.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from evals.errors import TemplateMissing
from guardrails.audit.log import AuditLog
from knowledge.service import KNOWLEDGE_DIR
from tools.demo.manifest import read_manifest

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from agent.copilot import Copilot
    from server.runtime import Runtime, RuntimeFactory
    from server.settings import Settings

__all__ = ["INHERITED_ENV", "RowChange", "Sandbox", "copilot_with_model"]

INHERITED_ENV = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "JIDOKA_MODEL_TIMEOUT_S", "JIDOKA_POLICY_DIR")
"""The variables a sandbox takes from the caller's environment (the model endpoint and the policy): ``jidoka eval``
builds its runtime factory from these alone, so the plant copy, its 'today' and its index are the sandbox's own."""

_BOOKKEEPING = frozenset({"action_executions"})
"""The action ledger: written by every execution, checked through the audit instead of row by row."""


@dataclass(frozen=True)
class RowChange:
    """A plant row that differs from the pristine plant."""

    table: str
    key: str
    """The primary key as canonical JSON."""


def _table_rows(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Rows of ``table`` keyed by primary key (canonical JSON), each as canonical JSON."""
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    names = [r[1] for r in info]
    pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or names
    out: dict[str, str] = {}
    for row in conn.execute(f'SELECT * FROM "{table}"'):
        values = dict(zip(names, row, strict=True))
        out[json.dumps({k: values[k] for k in pk}, sort_keys=True, default=str)] = json.dumps(
            values, sort_keys=True, default=str)
    return out


_LOG = "_eval_writes"


@contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that commits on success and is always closed (so WAL content is checkpointed)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        yield conn


def _copy(source: Path, target: Path) -> None:
    """Copy a SQLite database consistently (WAL included) with the backup API."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _install_write_log(path: Path) -> None:
    """Triggers on every plant table that note each insert, update and delete in ``_eval_writes``: any write
    through any connection is seen, and only the tables written need a row-by-row diff."""
    with _db(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                                             "LIKE 'sqlite_%'")]
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_LOG} (tbl TEXT NOT NULL)")
        for table in tables:
            if table == _LOG:
                continue
            for op in ("INSERT", "UPDATE", "DELETE"):
                conn.execute(f'CREATE TRIGGER IF NOT EXISTS "_eval_{table}_{op.lower()}" AFTER {op} ON "{table}" '
                             f"BEGIN INSERT INTO {_LOG} (tbl) VALUES ('{table}'); END")


class Sandbox:
    """One work copy of the plant with a runtime on it (made by ``factory``, which also makes its copilots)."""

    def __init__(self, template_home: Path, workdir: Path, *, factory: RuntimeFactory, model: str = "rules") -> None:
        source = Path(template_home) / "plant.db"
        if not source.is_file():
            raise TemplateMissing(str(template_home))
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.manifest: dict[str, Any] = read_manifest(Path(template_home))
        self.plant_path = workdir / "plant.db"
        _copy(source, self.plant_path)
        (workdir / "plant_manifest.json").write_text(json.dumps(self.manifest), encoding="utf-8")
        index = Path(template_home) / KNOWLEDGE_DIR
        self.has_knowledge = index.is_dir() and any(index.iterdir())
        """True when the template holds an ingested knowledge index (copied: documents are read-only here)."""
        if self.has_knowledge:
            shutil.copytree(index, workdir / KNOWLEDGE_DIR, dirs_exist_ok=True)
        self.factory = factory
        runtime = factory.runtime(workdir, model=model)  # adds the action tables to the copy
        self.settings: Settings = runtime.settings
        # A throw-away state database: the audit need not fsync every turn (what is written is the same).
        self.runtime: Runtime = replace(runtime, audit=AuditLog(runtime.state_engine, synchronous="NORMAL",
                                                               sealer=runtime.audit.sealer))
        self.runtime.data_engine.dispose()
        _install_write_log(self.plant_path)
        self.pristine_path = workdir / "pristine.db"
        _copy(self.plant_path, self.pristine_path)
        self._pristine_rows: dict[str, dict[str, str]] = {}
        self._baseline_rows: dict[str, dict[str, str]] = {}
        """Rows of the tables a case planted text in, as planted (the baseline :meth:`changes` compares with)."""
        self._dirty = False

    # -- state of the plant ----------------------------------------------------------------------------

    def _written(self) -> list[str]:
        with _db(self.plant_path) as conn:
            return [r[0] for r in conn.execute(f"SELECT DISTINCT tbl FROM {_LOG} ORDER BY tbl")]

    def changes(self) -> list[RowChange]:
        """Rows that differ from the baseline (inserted, updated or deleted), ledger excluded."""
        written = [t for t in self._written() if t not in _BOOKKEEPING]
        if not written:
            return []
        out: list[RowChange] = []
        with _db(self.plant_path) as cur, _db(self.pristine_path) as old:
            for table in written:
                before = self._baseline_rows.get(table) or self._pristine_rows.get(table)
                if before is None:
                    before = self._pristine_rows[table] = _table_rows(old, table)
                after = _table_rows(cur, table)
                keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
                out += [RowChange(table, k) for k in sorted(keys)]
        return out

    def mark_baseline(self) -> None:
        """Take the plant as it is now as the baseline of :meth:`changes` (after planting a case's text)."""
        written = self._written()
        with _db(self.plant_path) as cur:
            self._baseline_rows = {t: _table_rows(cur, t) for t in written}
            cur.execute(f"DELETE FROM {_LOG}")
        self._dirty = True

    def restore(self) -> None:
        """Put the pristine plant back (only when something was written) and make it the baseline again."""
        self._baseline_rows = {}
        if not self._dirty and not self._written():
            return
        self.runtime.data_engine.dispose()
        _copy(self.pristine_path, self.plant_path)
        self._dirty = False

    def write_text(self, table: str, key: Mapping[str, str], column: str, value: str, *, append: bool) -> None:
        """Write free text into one row of the work copy (a case's planted injection)."""
        from tools.plant.schema import table as schema_table

        t = schema_table(table)  # raises KeyError for an unknown table: the suite is wrong
        if column not in t.c or any(k not in t.c for k in key):
            raise ValueError(f"{table} has no column {column!r} or key {list(key)}")
        where = " AND ".join(f"{k} = :k_{k}" for k in key)
        params = {f"k_{k}": v for k, v in key.items()}
        expr = f"COALESCE({column}, '') || ' ' || :v" if append else ":v"
        with self.runtime.data_engine.begin() as conn:
            result = conn.execute(text(f"UPDATE {table} SET {column} = {expr} WHERE {where}"), {**params, "v": value})
            if result.rowcount != 1:
                raise ValueError(f"{table} {dict(key)}: no such row in the plant")

    def close(self) -> None:
        """Release the runtime's connections."""
        self.runtime.close()


def copilot_with_model(sandbox: Sandbox, model: BaseChatModel, *, grant_of: str = "rules") -> Copilot:
    """A governed copilot on the sandbox's runtime answering with ``model`` under the policy grant of ``grant_of``.

    The containment mode puts its adversarial driver in the slot of the most trusted approved model (the
    rules model may propose every risk class), so what it achieves is what the guardrails alone allow.
    """
    from guardrails.policy.models import ModelPolicy

    runtime, factory = sandbox.runtime, sandbox.factory
    grant = ModelPolicy.from_policy(runtime.policy).approved.get(grant_of)
    return factory.copilot(runtime, factory.overrides(model=model, model_grant=grant, fallback_grant=grant))
