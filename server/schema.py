"""The databases' schema: created and upgraded explicitly, checked when a process starts.

Two databases hold jidoka's tables: the plant database (ERP/MES data, plus the action ledger and the records
actions create) and the state database (audit log, approval requests, LangGraph thread checkpoints). Each records
the schema version it was brought to in a ``jidoka_schema`` row.

- Embedded SQLite (one process, files under ``JIDOKA_HOME``) is upgraded when a runtime starts, as before.
- A server database (Postgres), shared by several workers, is upgraded only by ``jidoka db upgrade`` (and by
  ``jidoka init``, which builds the plant): a process that finds an older schema refuses to start and names the
  command, so no two workers race to create tables. The upgrade holds a Postgres advisory lock, so two upgrades
  run one after the other, and every step is idempotent.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, inspect, select
from sqlalchemy.exc import IntegrityError

from guardrails.approvals.store import ApprovalStore
from guardrails.audit.log import AuditLog
from guardrails.monitoring.store import SignalStore
from server.errors import SchemaOutOfDate
from tools.actions import ensure_action_tables

__all__ = ["SCHEMA_VERSION", "SchemaPart", "SchemaReport", "check_schema", "prepare_schema", "prepare_state",
           "read_version", "upgrade_plant", "upgrade_schema", "upgrade_state"]

SCHEMA_VERSION = 3
"""The schema this code needs (both databases). Raise it with every step added to :func:`_upgrade_state` or
:func:`_upgrade_plant`; the steps must stay idempotent (an older database runs all of them)."""

_meta = MetaData()
schema_table = Table(
    "jidoka_schema", _meta,
    Column("part", String(16), primary_key=True, comment="'plant' or 'state'"),
    Column("version", Integer, nullable=False),
    Column("applied_at", String(40), nullable=False),
)


@dataclass(frozen=True)
class SchemaPart:
    """One database's schema version before and after an upgrade."""

    part: str
    """``plant`` or ``state``."""
    before: int | None
    """The version found (``None``: no jidoka tables yet)."""
    after: int | None
    """The version now (``None`` when the part could not be upgraded, e.g. a plant never built)."""
    note: str = ""


@dataclass(frozen=True)
class SchemaReport:
    """What :func:`upgrade_schema` found and did."""

    plant: SchemaPart
    state: SchemaPart


def _is_server(engine: Engine) -> bool:
    return engine.url.get_backend_name() != "sqlite"


def read_version(engine: Engine, part: str) -> int | None:
    """The schema version recorded for ``part`` in ``engine``'s database (``None`` when none is)."""
    if not inspect(engine).has_table(schema_table.name):
        return None
    with engine.connect() as conn:
        found = conn.execute(select(schema_table.c.version).where(schema_table.c.part == part)).scalar()
    return None if found is None else int(found)


def _record(engine: Engine, part: str) -> None:
    _meta.create_all(engine, tables=[schema_table], checkfirst=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with engine.begin() as conn:
        updated = conn.execute(schema_table.update().where(schema_table.c.part == part)
                               .values(version=SCHEMA_VERSION, applied_at=stamp)).rowcount
        if not updated:
            # Another SQLite process may have recorded it first (Postgres upgrades hold the lock).
            with suppress(IntegrityError):
                conn.execute(schema_table.insert().values(part=part, version=SCHEMA_VERSION, applied_at=stamp))


def _lock_key(part: str) -> int:
    digest = hashlib.sha256(f"jidoka.schema:{part}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _upgrade_lock(engine: Engine, part: str) -> Iterator[None]:
    """Hold a lock while upgrading, so concurrent upgrades take turns: a session advisory lock on Postgres, an
    exclusive file lock beside an SQLite file (workers started together each prepare the same fresh file)."""
    if engine.url.get_backend_name() == "sqlite":
        database = engine.url.database or ""
        if database in ("", ":memory:"):
            yield
            return
        with open(f"{database}.upgrade-lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_advisory_lock(%s)", (_lock_key(part),))
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (_lock_key(part),))
            conn.commit()


def _has_plant(engine: Engine) -> bool:
    """True when ``engine`` holds a built plant (an SQLite file that does not exist is not created here)."""
    if engine.url.get_backend_name() == "sqlite":
        database = engine.url.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            return False
    return inspect(engine).has_table("plant_meta")


def _upgrade_plant(engine: Engine) -> None:
    ensure_action_tables(engine)


def _upgrade_state(engine: Engine, state_url: str) -> None:
    from agent.checkpoint import setup_checkpoints

    AuditLog(engine).create_schema()  # version 3: audit_keys (the sealed fields' data keys) with the audit tables
    ApprovalStore(engine).create_schema()
    SignalStore(engine).create_schema()  # version 2: the monitoring loop's signals and lock
    setup_checkpoints(state_url)


def upgrade_plant(data_engine: Engine) -> SchemaPart:
    """Bring the plant database to :data:`SCHEMA_VERSION` (idempotent). A database without a plant (never built
    by ``jidoka init``) is left alone and reported."""
    with _upgrade_lock(data_engine, "plant"):
        before = read_version(data_engine, "plant")
        if not _has_plant(data_engine):
            return SchemaPart("plant", before, None, "no plant data yet: `jidoka init` builds it")
        _upgrade_plant(data_engine)
        _record(data_engine, "plant")
    return SchemaPart("plant", before, SCHEMA_VERSION)


def upgrade_state(state_engine: Engine, state_url: str) -> SchemaPart:
    """Bring the state database (audit, approvals, checkpoints) to :data:`SCHEMA_VERSION` (idempotent)."""
    with _upgrade_lock(state_engine, "state"):
        before = read_version(state_engine, "state")
        _upgrade_state(state_engine, state_url)
        _record(state_engine, "state")
    return SchemaPart("state", before, SCHEMA_VERSION)


def upgrade_schema(data_engine: Engine, state_engine: Engine, state_url: str) -> SchemaReport:
    """Bring both databases to :data:`SCHEMA_VERSION` (``jidoka db upgrade``)."""
    return SchemaReport(plant=upgrade_plant(data_engine), state=upgrade_state(state_engine, state_url))


def _out_of_date(engine: Engine, part: str) -> SchemaOutOfDate | None:
    """Why ``engine``'s ``part`` is not at :data:`SCHEMA_VERSION` (``None`` when it is)."""
    found = read_version(engine, part)
    if found == SCHEMA_VERSION:
        return None
    url = engine.url.render_as_string(hide_password=True)
    if part == "plant" and not _has_plant(engine):
        return SchemaOutOfDate(f"the plant database {url} holds no plant: run `jidoka init`")
    if found is None:
        return SchemaOutOfDate(f"the {part} database {url} has no jidoka schema: run `jidoka db upgrade`")
    if found < SCHEMA_VERSION:
        return SchemaOutOfDate(f"the {part} database {url} is at schema {found}, this jidoka needs "
                               f"{SCHEMA_VERSION}: run `jidoka db upgrade`")
    return SchemaOutOfDate(f"the {part} database {url} is at schema {found}, newer than this jidoka "
                           f"({SCHEMA_VERSION}): upgrade jidoka")


def check_schema(data_engine: Engine, state_engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless both databases are at :data:`SCHEMA_VERSION`."""
    for engine, part in ((data_engine, "plant"), (state_engine, "state")):
        problem = _out_of_date(engine, part)
        if problem is not None:
            raise problem


def prepare_schema(data_engine: Engine, state_engine: Engine, state_url: str, *, write_plant: bool) -> None:
    """At start: embedded SQLite databases are upgraded in place; server databases are only checked.

    ``write_plant=False`` never writes to the plant database (a plant shared by many tests).
    """
    if _is_server(data_engine) and (problem := _out_of_date(data_engine, "plant")) is not None:
        raise problem
    prepare_state(state_engine, state_url)
    if write_plant and not _is_server(data_engine) and _has_plant(data_engine):
        with _upgrade_lock(data_engine, "plant"):
            _upgrade_plant(data_engine)
            _record(data_engine, "plant")


def prepare_state(state_engine: Engine, state_url: str) -> None:
    """At start of a command that needs only the state database (``jidoka knowledge ingest``: audit and approval
    requests): an embedded SQLite one is upgraded in place; a server one is only checked."""
    if _is_server(state_engine):
        problem = _out_of_date(state_engine, "state")
        if problem is not None:
            raise problem
        return
    with _upgrade_lock(state_engine, "state"):
        _upgrade_state(state_engine, state_url)
        _record(state_engine, "state")
