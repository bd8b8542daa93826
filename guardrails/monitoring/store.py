"""Signals and the monitor lock in the state database (SQLite or Postgres alike).

- ``monitor_signals``: one row per signal. ``open_subject`` holds the subject key while the signal is active and
  is NULL once resolved; a unique constraint on it makes "one active signal per subject" hold even when two
  runners race (NULLs never collide, on both backends).
- ``monitor_lock``: one row per lock name with its holder and lease expiry: a runner takes the lock when the row
  is missing, expired or its own, in one conditional write, so one run happens at a time across processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, UniqueConstraint, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from guardrails.approvals._tables import UtcDateTime
from guardrails.errors import SignalConflict, SignalNotFound
from guardrails.monitoring.models import ACTIVE_STATUSES, Response, ResponseKind, Signal, SignalStatus

__all__ = ["SignalStore", "monitor_metadata"]

Clock = Callable[[], datetime]

monitor_metadata = MetaData()
"""The monitoring tables' own metadata (state database)."""

signals_table = Table(
    "monitor_signals", monitor_metadata,
    Column("signal_id", String(24), primary_key=True),
    Column("detector", String(48), nullable=False),
    Column("subject_key", String(255), nullable=False),
    Column("open_subject", String(255), nullable=True,
           comment="subject_key while the signal holds its subject (active, or resolved by its outcome until the "
                   "detector stops finding it); NULL after"),
    Column("site_id", String(8), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("title", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("role", String(64), nullable=False),
    Column("record_ids_json", Text, nullable=False),
    Column("figures_json", Text, nullable=False),
    Column("as_of", String(40), nullable=False),
    Column("rule_id", String(255), nullable=False),
    Column("requests_json", Text, nullable=False),
    Column("proposals_json", Text, nullable=False),
    Column("outcome_json", Text, nullable=False),
    Column("responses_json", Text, nullable=False),
    Column("seen_runs", Integer, nullable=False),
    Column("watch_runs", Integer, nullable=False, comment="outcome checks that did not improve, since the last action"),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("closed_reason", Text, nullable=False),
    Column("version", Integer, nullable=False),
    UniqueConstraint("open_subject", name="uq_monitor_signals_open_subject"),
)

lock_table = Table(
    "monitor_lock", monitor_metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _signal(row: Row[Any]) -> Signal:
    responses = tuple(
        Response(kind=ResponseKind(r["kind"]), user_id=r["user_id"], reason=r["reason"],
                 at=datetime.fromisoformat(r["at"]), request_id=r.get("request_id"),
                 declined=tuple(r.get("declined", ()))) for r in json.loads(row.responses_json))
    return Signal(
        signal_id=row.signal_id, detector=row.detector, subject_key=row.subject_key, site_id=row.site_id,
        severity=row.severity, title=row.title, status=SignalStatus(row.status), level=row.level, role=row.role,
        record_ids=tuple(json.loads(row.record_ids_json)), figures=json.loads(row.figures_json), as_of=row.as_of,
        opened_at=row.opened_at, updated_at=row.updated_at, rule_id=row.rule_id,
        requests=tuple(json.loads(row.requests_json)), proposals=tuple(json.loads(row.proposals_json)),
        outcome=json.loads(row.outcome_json), responses=responses, closed_at=row.closed_at,
        closed_reason=row.closed_reason, seen_runs=row.seen_runs,
        holds_subject=row.open_subject is not None and row.status not in {s.value for s in ACTIVE_STATUSES})


def _row(signal: Signal) -> dict[str, Any]:
    return {
        "signal_id": signal.signal_id, "detector": signal.detector, "subject_key": signal.subject_key,
        "open_subject": signal.subject_key if signal.active or signal.holds_subject else None,
        "site_id": signal.site_id,
        "severity": signal.severity, "title": signal.title, "status": signal.status.value, "level": signal.level,
        "role": signal.role, "record_ids_json": _dumps(list(signal.record_ids)),
        "figures_json": _dumps(dict(signal.figures)), "as_of": signal.as_of, "rule_id": signal.rule_id,
        "requests_json": _dumps(list(signal.requests)), "proposals_json": _dumps([dict(p) for p in signal.proposals]),
        "outcome_json": _dumps(dict(signal.outcome)), "responses_json": _dumps([r.to_json() for r in signal.responses]),
        "seen_runs": signal.seen_runs, "opened_at": signal.opened_at, "updated_at": signal.updated_at,
        "closed_at": signal.closed_at, "closed_reason": signal.closed_reason,
    }


class SignalStore:
    """Signals and the monitor lock on the state database."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock: Clock = clock or (lambda: datetime.now(UTC))

    def create_schema(self) -> None:
        """Create the tables if missing (idempotent; ``jidoka db upgrade`` and the embedded start call it)."""
        monitor_metadata.create_all(self.engine, checkfirst=True)

    # -- signals -----------------------------------------------------------------------------------

    def get(self, signal_id: str) -> Signal:
        """The signal ``signal_id``; :class:`SignalNotFound` when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(signals_table).where(signals_table.c.signal_id == signal_id)).first()
        if row is None:
            raise SignalNotFound(signal_id)
        return _signal(row)

    def active(self, subject_key: str) -> Signal | None:
        """The active signal on ``subject_key``, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(signals_table).where(signals_table.c.open_subject == subject_key)).first()
        return None if row is None else _signal(row)

    def signals(self, *, sites: Iterable[str] | None = None, active_only: bool = False, limit: int = 500,
             ) -> list[Signal]:
        """Signals newest first (of ``sites`` when given; active ones only when asked)."""
        stmt = select(signals_table).order_by(signals_table.c.updated_at.desc(), signals_table.c.signal_id.desc())
        if sites is not None:
            stmt = stmt.where(signals_table.c.site_id.in_(sorted(sites)))
        if active_only:
            stmt = stmt.where(signals_table.c.status.in_(sorted(s.value for s in ACTIVE_STATUSES)))
        with self.engine.connect() as conn:
            return [_signal(r) for r in conn.execute(stmt.limit(limit))]

    def holding(self, site: str, detector: str) -> list[Signal]:
        """Resolved signals of ``detector`` at ``site`` that still hold their subject."""
        stmt = select(signals_table).where(signals_table.c.site_id == site, signals_table.c.detector == detector,
                                           signals_table.c.open_subject.is_not(None),
                                           signals_table.c.status == SignalStatus.RESOLVED.value)
        with self.engine.connect() as conn:
            return [_signal(r) for r in conn.execute(stmt)]

    def for_request(self, request_id: str) -> Signal | None:
        """The signal a request was made for (its thread is ``signal:<id>``), if it still exists."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(signals_table).where(signals_table.c.requests_json.contains(request_id)))
            found = [_signal(r) for r in rows]
        return next((s for s in found if request_id in s.requests), None)

    def insert(self, signal: Signal) -> Signal | None:
        """Store a new signal; ``None`` when another runner opened one on the same subject first."""
        try:
            with self.engine.begin() as conn:
                conn.execute(signals_table.insert().values(**_row(signal), watch_runs=0, version=1))
        except IntegrityError:
            return None
        return signal

    def update(self, signal: Signal, *, expected: Signal, watch_runs: int | None = None) -> Signal:
        """Replace ``expected`` (as read) by ``signal``; :class:`SignalConflict` when it changed in between."""
        values = _row(signal)
        if watch_runs is not None:
            values["watch_runs"] = watch_runs
        with self.engine.begin() as conn:
            current = conn.execute(select(signals_table.c.version, signals_table.c.updated_at, signals_table.c.status)
                                   .where(signals_table.c.signal_id == signal.signal_id)).first()
            if current is None:
                raise SignalNotFound(signal.signal_id)
            if current.updated_at != expected.updated_at or current.status != expected.status.value:
                raise SignalConflict(signal.signal_id)
            conn.execute(signals_table.update().where(signals_table.c.signal_id == signal.signal_id,
                                                      signals_table.c.version == current.version)
                         .values(**values, version=current.version + 1))
        return signal

    def watch_runs(self, signal_id: str) -> int:
        """Outcome checks without improvement since the signal's last action."""
        with self.engine.connect() as conn:
            found = conn.execute(select(signals_table.c.watch_runs)
                                 .where(signals_table.c.signal_id == signal_id)).scalar()
        return int(found or 0)

    # -- the monitor lock --------------------------------------------------------------------------

    def acquire(self, holder: str, *, lease: timedelta, name: str = "monitor") -> str | None:
        """Take lock ``name`` for ``holder`` for ``lease``; ``None`` when taken, else the current holder."""
        now = self._clock()
        lock = lock_table
        with self.engine.begin() as conn:
            taken = conn.execute(lock.update().where(
                lock.c.name == name, or_(lock.c.expires_at < now, lock.c.holder == holder))
                .values(holder=holder, expires_at=now + lease)).rowcount
            if taken:
                return None
            current = conn.execute(select(lock.c.holder).where(lock.c.name == name)).scalar()
        if current is not None:
            return str(current)
        try:
            with self.engine.begin() as conn:
                conn.execute(lock.insert().values(name=name, holder=holder, expires_at=now + lease))
        except IntegrityError:  # another runner inserted it first
            with self.engine.connect() as conn:
                return str(conn.execute(select(lock.c.holder).where(lock.c.name == name)).scalar() or "another runner")
        return None

    def release(self, holder: str, *, name: str = "monitor") -> None:
        """Give lock ``name`` back (only ``holder``'s own)."""
        with self.engine.begin() as conn:
            conn.execute(lock_table.update().where(lock_table.c.name == name, lock_table.c.holder == holder)
                         .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC)))

