"""The tamper-evident audit log: an append-only, hash-chained table in the state database.

Every record carries ``hash = SHA-256(prev_hash ‖ canonical(event))`` (see
:mod:`guardrails.audit.chain` for the exact bytes), and a one-row
``audit_head`` anchor holds the newest seq and hash. :meth:`AuditLog.verify`
re-walks the chain and finds edits of any column, deleted rows (middle or
tail), inserted rows and reordering, naming the first bad seq.

What a chain cannot catch on its own: someone with write access who deletes
the newest rows, or rewrites every hash from the damage onwards, *and* moves
the head row to match. Against that, give the log an :class:`AuditAnchor`:
signed checkpoints of the head in a file the database's writers cannot reach
(:mod:`guardrails.audit.anchoring`), written every so many events outside the
append's transaction; :meth:`AuditLog.verify` then checks the chain against
them and names the first event after the last checkpoint that still matches.

Durability: on SQLite every write transaction runs ``PRAGMA synchronous=FULL``
by default, so in WAL mode each commit is fsynced before ``append`` /
``flush`` returns — the event survives a process crash *and* a power cut.
``synchronous="NORMAL"`` is offered for benchmarks and throw-away databases:
a commit then survives a crash of the process but may be lost on a power cut
or OS crash (the chain stays valid; the newest transactions are just missing).
A FULL commit costs about one fsync (~1 ms here), so write a turn's events
through :meth:`AuditLog.buffer` (one transaction per turn), not one by one.
Turns of one log that flush while another commit is in progress are written
together in the next transaction (group commit, :mod:`._group_commit`): one
fsync for the group, each flush still returning only once its own events are
committed, a failure failing the whole group with nothing of it stored.

Postgres: appenders serialise on ``SELECT ... FOR UPDATE`` of the head row
instead of SQLite's ``BEGIN IMMEDIATE``; reads use REPEATABLE READ snapshots.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from guardrails.audit._group_commit import ChainWriter, GroupCommitter, Stamped
from guardrails.audit._pages import iter_pages
from guardrails.audit._parallel import RANGE_ROWS, auto_workers, parallel_pages
from guardrails.audit._stamps import UtcStamps, format_ts, utc_now
from guardrails.audit._store import (
    Synchronous,
    audit_events,
    audit_metadata,
    ensure_head,
    has_schema,
    iter_rows,
    read_head,
    read_transaction,
    sqlite_appender,
    to_record,
)
from guardrails.audit.anchor import Checkpoint
from guardrails.audit.anchoring import AuditAnchor, check_chain
from guardrails.audit.chain import GENESIS_HASH, AuditEvent, AuditKind, AuditRecord, canonical_json
from guardrails.audit.sealing import Sealer
from guardrails.audit.verify import ChainHead, ChainProblem, StoredRow, VerifyReport
from guardrails.errors import AuditAnchorError, AuditError, AuditSchemaMissing
from guardrails.tracing import TurnTracing

__all__ = [
    "GENESIS_HASH",
    "AuditAnchor",
    "AuditBuffer",
    "AuditEvent",
    "AuditKind",
    "AuditLog",
    "AuditRecord",
    "ChainHead",
    "ChainProblem",
    "Clock",
    "VerifyReport",
    "audit_metadata",
    "canonical_json",
    "format_ts",
]

Clock = Callable[[], datetime]
"""Returns the current time as a timezone-aware datetime."""


class AuditLog:
    """The audit log on the state database behind ``engine``.

    Safe for several threads and several processes appending at once: the seq
    and prev_hash of new rows are computed inside the write transaction while it
    holds the database write lock, and the primary key on seq is the backstop.
    """

    def __init__(
        self, engine: Engine, *, clock: Clock | None = None, synchronous: Synchronous = "FULL",
        anchor: AuditAnchor | None = None, group_commit: bool = True, sealer: Sealer | None = None,
    ) -> None:
        """Use ``engine`` (from :func:`tools.plant.db.make_engine`); ``clock`` stamps events (default: UTC now).

        ``synchronous`` is SQLite's fsync level for the log's commits (see the module docstring). ``anchor``
        writes signed checkpoints of the head after appends and lets :meth:`verify` check against them.
        ``group_commit`` writes the appends of threads that arrive while a commit is in progress together, in
        the next transaction (each still returns only once its own events are committed); False gives every
        append its own transaction. ``sealer`` encrypts the sealed payload fields before they are hashed and
        stored, and opens them on every read (:mod:`guardrails.audit.sealing`); without it they are stored in clear.
        """
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self._engine = engine
        self._clock = clock or utc_now
        self._stamps = UtcStamps() if clock is None else None
        self._synchronous: Synchronous = synchronous
        self._appender = sqlite_appender(engine, synchronous=synchronous)
        self._committer = GroupCommitter(ChainWriter(engine, synchronous=synchronous, appender=self._appender),
                                         grouped=group_commit)
        self._anchor = anchor
        self.sealer = sealer
        """Seals and opens the sealed payload fields; ``None``: they are stored in clear."""

    @property
    def engine(self) -> Engine:
        """The state database engine the log writes to."""
        return self._engine

    @property
    def commits(self) -> int:
        """Write transactions this log object has committed (a group of appends counts once)."""
        return self._committer.commits

    @property
    def anchor(self) -> AuditAnchor | None:
        """The anchor of the chain (signed checkpoints outside the database); None when none is configured."""
        return self._anchor

    def create_schema(self) -> None:
        """Create the audit tables and the genesis head if missing (idempotent)."""
        try:
            audit_metadata.create_all(self._engine, checkfirst=True)
            ensure_head(self._engine)
        except SQLAlchemyError as exc:
            raise AuditError(f"could not create the audit tables: {exc}") from exc

    def has_schema(self) -> bool:
        """True when the audit tables exist."""
        return has_schema(self._engine)

    def now(self) -> str:
        """The current time from the log's clock, formatted as stored."""
        if self._stamps is not None:  # the default clock: same text, formatted cheaply
            return self._stamps()
        return format_ts(self._clock())

    # -- writing -------------------------------------------------------------------------------

    def append(self, event: AuditEvent) -> AuditRecord:
        """Append one event; it is committed (durable) when this returns."""
        return self._write([(event, self.now())])[0]

    def append_many(self, events: Iterable[AuditEvent]) -> list[AuditRecord]:
        """Append events in order in one transaction: all are stored or none."""
        ts = self.now()
        return self._write([(event, ts) for event in events])

    def buffer(self, tracing: TurnTracing | None = None) -> AuditBuffer:
        """A group-commit buffer for one turn (use it as a context manager); ``tracing``: its commit on exit is
        a span."""
        return AuditBuffer(self, tracing)

    def _write(self, stamped: Sequence[Stamped], *, records: bool = True) -> list[AuditRecord]:
        """Append ``stamped`` in one transaction (shared with concurrent callers' when grouped); the records
        written, or ``[]`` when ``records`` is False."""
        if not stamped:
            return []
        for event, _ in stamped:
            if not isinstance(event, AuditEvent):
                raise AuditError(f"only AuditEvent can be appended, got {type(event).__name__}")
        sealer = self.sealer
        rows = self._committer.commit(stamped if sealer is None else [(sealer.seal(e, ts), ts) for e, ts in stamped])
        if self._anchor is not None:  # committed: a checkpoint, when one is due, is outside the transaction
            last = rows[-1]
            self._anchor.after_append(rows[0][0], last[0], last[-1])
        if not records:
            return []
        written: list[AuditRecord] = []
        for (seq, ts, trace_id, thread_id, user_id, kind, _, policy_hash, prev, digest), (event, _) in zip(
                rows, stamped, strict=True):  # a row holds the payload's text, a record the payload itself
            written.append(AuditRecord.of(seq, ts, trace_id, thread_id, user_id, kind, event.payload, policy_hash,
                                          prev, digest))
        return written

    # -- checking and reading ------------------------------------------------------------------

    def verify(self, *, chunk_size: int = 10000, anchor_files: Sequence[Path] = (), thorough: bool = False,
               workers: int | None = None) -> VerifyReport:
        """Re-walk the chain in seq order (``chunk_size`` rows in memory at a time), then check the head row
        and, with an anchor, every signed checkpoint of its file and of ``anchor_files`` (other hosts').

        Each row's stored text is hashed as it is; only a row whose hash does not match has its payload parsed
        and re-encoded to name the problem. ``thorough`` parses and re-encodes every payload, which also names
        a payload rewritten to non-canonical bytes under a re-computed hash at its own row, where the default
        names the next row (relinked) or the head — see :meth:`guardrails.audit.verify.ChainChecker.feed_page`.

        On a SQLite file, ``workers`` processes check seq ranges of the log alongside this thread (the fast check,
        links joined after; :mod:`guardrails.audit._parallel`), and the walk reads sequentially from the first row
        they did not accept, so the report is the same. They read up to this snapshot's last seq, each range in
        a snapshot of its own: rows rewritten while verify runs are judged as a worker read them. None: one per
        further core (:meth:`verify_workers`) for a log of at least 20,000 rows; 0: none. Not with
        ``thorough``, nor on Postgres.
        """
        anchor = self._anchor
        if anchor_files and anchor is None:
            raise AuditAnchorError("anchor files were given but no key checks them: set JIDOKA_AUDIT_VERIFY_KEY")
        # The files are read before the snapshot is taken: a checkpoint is written after its rows committed,
        # so the snapshot holds every row a checkpoint read here names.
        reading = anchor.read(anchor_files) if anchor is not None else None
        with self._reading("verify the audit log") as conn:
            head = read_head(conn)
            pages = None if thorough else parallel_pages(
                conn, workers=workers, page_size=chunk_size, range_rows=min(chunk_size, RANGE_ROWS),
                watched={located[0].seq for located in reading.checkpoints} if reading is not None else ())
            return check_chain(pages or iter_pages(conn, page_size=chunk_size), head, reading,
                               key_ids=tuple(anchor.trusted.keys) if anchor else (),
                               notes=anchor.notes() if anchor else (), fast=not thorough)

    @staticmethod
    def verify_workers(rows: int) -> int:
        """The worker processes :meth:`verify` starts by default for a log of ``rows`` rows on a SQLite file."""
        return auto_workers(rows)

    def checkpoint(self) -> Checkpoint:
        """Sign the stored head and append it to the anchor file (``jidoka audit anchor``).

        Raises :class:`AuditAnchorError` without a signing key or when the file cannot be written.
        """
        if self._anchor is None or not self._anchor.can_sign:
            raise AuditAnchorError("no signing key: set JIDOKA_AUDIT_SIGNING_KEY (`jidoka audit keygen` makes one)")
        return self._anchor.write(self.head())

    def close(self) -> None:
        """At clean shutdown: anchor this process's newest append, if not yet (a failure is only logged)."""
        if self._anchor is not None:
            self._anchor.close()

    def head(self) -> ChainHead:
        """The stored head row (newest seq and hash); raises :class:`AuditSchemaMissing` if it is gone."""
        with self._reading("read the audit head") as conn:
            head = read_head(conn)
        if head is None:
            raise AuditSchemaMissing("the audit_head row is missing; run `jidoka audit verify`")
        return head

    def count(self) -> int:
        """How many records are stored."""
        with self._reading("count audit records") as conn:
            return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())

    def by_trace(self, trace_id: str, *, opened: bool = True) -> list[AuditRecord]:
        """Every record of one trace (turn), in seq order (``opened=False``: sealed fields as stored)."""
        with self._reading("read a trace") as conn:
            rows = iter_rows(conn, chunk_size=1000, where=audit_events.c.trace_id == trace_id)
            records = [to_record(row) for row in rows]
        return self._opened(records) if opened else records

    def tail(self, n: int, *, without: Collection[str] = ()) -> list[AuditRecord]:
        """The newest ``n`` records, oldest first; ``without`` leaves records of those kinds out (e.g. the
        ``audit_read`` events of earlier reads, so a viewer's list of recent turns is not filled by its own reads)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return []
        stmt = select(*audit_events.c).order_by(audit_events.c.seq.desc()).limit(n)
        if without:
            stmt = stmt.where(audit_events.c.kind.not_in([str(kind) for kind in without]))
        with self._reading("read the newest records") as conn:
            rows = conn.execute(stmt).all()
        return self._opened([to_record(StoredRow(*row)) for row in reversed(rows)])

    def export(self, since: datetime | None = None, *, chunk_size: int = 2000, opened: bool = True
               ) -> Iterator[AuditRecord]:
        """Records in seq order, streamed; with ``since``, only those stamped at or after it.

        A naive ``since`` is taken as UTC (every stored timestamp is UTC). ``opened=False`` gives sealed fields as
        stored (their envelopes), so each record's hash can be recomputed from it.
        """
        where = None
        if since is not None:
            aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
            # Stored stamps are fixed-width UTC ISO text, so text order is time order.
            where = audit_events.c.ts >= format_ts(aware)
        with self._reading("export the audit log") as conn:
            batch: list[AuditRecord] = []
            for row in iter_rows(conn, chunk_size=chunk_size, where=where):
                batch.append(to_record(row))
                if len(batch) >= chunk_size:
                    yield from self._opened(batch) if opened else batch
                    batch = []
            yield from self._opened(batch) if opened else batch

    def _opened(self, records: list[AuditRecord]) -> list[AuditRecord]:
        """``records`` with their sealed fields opened (as they are without a sealer)."""
        return records if self.sealer is None else self.sealer.open_records(records)

    @contextmanager
    def _reading(self, what: str) -> Iterator[Connection]:
        """A snapshot read; database errors become :class:`AuditError` (missing tables named as such)."""
        try:
            with read_transaction(self._engine) as conn:
                yield conn
        except SQLAlchemyError as exc:
            if not self.has_schema():
                raise AuditSchemaMissing("no audit log in the state database (no audit tables)") from exc
            raise AuditError(f"could not {what}: {exc}") from exc


class AuditBuffer:
    """Collects a turn's events in memory and writes them in one transaction.

    Each event is stamped when it is added. :meth:`flush` commits everything
    pending (durable when it returns). Used as a context manager it flushes on
    exit, also when the block raises, so an exception inside a turn loses no
    events; if that flush fails too, its :class:`AuditError` is raised with the
    original exception as context. Events still in memory when the process is
    killed are lost — flush at points that must survive that. Thread-safe.
    """

    def __init__(self, log: AuditLog, tracing: TurnTracing | None = None) -> None:
        """A buffer writing to ``log`` (normally made by :meth:`AuditLog.buffer`); ``tracing``: the commit on
        exit is a span."""
        self._log = log
        self._tracing = tracing
        self._pending: list[Stamped] = []
        self._lock = threading.Lock()

    def add(self, event: AuditEvent) -> None:
        """Queue ``event`` (stamped now) for the next flush."""
        if not isinstance(event, AuditEvent):
            raise AuditError(f"only AuditEvent can be buffered, got {type(event).__name__}")
        ts = self._log.now()
        with self._lock:
            self._pending.append((event, ts))

    @property
    def pending(self) -> int:
        """Events waiting for the next flush."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> list[AuditRecord]:
        """Write all pending events in one transaction; on failure they stay pending for a retry."""
        return self._flush(records=True)

    def _flush(self, *, records: bool) -> list[AuditRecord]:
        with self._lock:
            written = self._log._write(self._pending, records=records)
            self._pending.clear()
            return written

    def __enter__(self) -> AuditBuffer:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tracing is None or not self._tracing.enabled:
            self._flush(records=False)  # nobody sees the records here: the same write, without building them
            return
        with self._tracing.step("jidoka.audit.commit", {"jidoka.audit.events": self.pending}):
            self._flush(records=False)
