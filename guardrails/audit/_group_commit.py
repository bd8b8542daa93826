"""Group commit: the turns of one log that finish together are written in one transaction (one fsync).

Each append (a turn's buffer flush) is a ticket in a queue. A caller that finds no commit in progress becomes
the leader: it takes every ticket queued at that moment (its own among them), writes them in one transaction —
chained in queue order, each ticket's events contiguous, the head moved once — and then wakes their callers.
Callers that arrive while a commit is in progress wait; when it ends, one of them leads the next group with
everything queued meanwhile. Nobody sleeps to wait for company: a lone caller commits at once, as before.

Each caller returns only after its own events are committed (durable at the log's ``synchronous`` level), and
a failed transaction fails every caller of that group with the error (nothing of the group is stored). Within
one process only: other processes' appends serialise on the database's write lock as before.
"""

from __future__ import annotations

import copy
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from guardrails.audit._store import SqliteAppender, Synchronous, WritePlan, has_schema, write_transaction
from guardrails.audit.chain import AuditEvent, event_hash
from guardrails.audit.verify import ChainHead
from guardrails.errors import AuditChainConflict, AuditError, AuditSchemaMissing

__all__ = ["ChainWriter", "GroupCommitter", "Row", "Stamped"]

Stamped = tuple[AuditEvent, str]
"""An event and the timestamp it was stamped with when it was handed to the log."""

Row = tuple[Any, ...]
"""A row as inserted: ``audit_events`` column order, the payload as its canonical text."""


class ChainWriter:
    """Appends groups of stamped events after the stored head in one write transaction."""

    def __init__(self, engine: Engine, *, synchronous: Synchronous, appender: SqliteAppender | None) -> None:
        """Write to ``engine`` at ``synchronous`` through ``appender`` (SQLite's kept connection) or the pool."""
        self._engine = engine
        self._synchronous: Synchronous = synchronous
        self._plan = WritePlan.for_dialect(engine.dialect)
        self._appender = appender

    def __call__(self, batches: Sequence[Sequence[Stamped]]) -> list[list[Row]]:
        """Append ``batches`` in order in one transaction; the rows written, per batch. All or none are stored."""
        plan = self._plan
        try:
            transaction = (write_transaction(self._engine, synchronous=self._synchronous)
                           if self._appender is None else self._appender.transaction())
            with transaction as cursor:
                head = plan.lock_head(cursor)
                if head is None:
                    raise AuditSchemaMissing("the audit_head row is missing; run create_schema() or verify")
                written = _chain(head, batches)
                rows = [row for batch in written for row in batch] if len(written) > 1 else written[0]
                plan.insert_rows(cursor, rows)
                last = rows[-1]
                plan.write_head(cursor, ChainHead(last[0], last[-1]))
        except IntegrityError as exc:
            raise AuditChainConflict(
                "the next seq already exists: rows were written outside the audit log; "
                "run `jidoka audit verify`"
            ) from exc
        except SQLAlchemyError as exc:
            if not has_schema(self._engine):
                raise AuditSchemaMissing("no audit tables in the state database; run create_schema()") \
                    from exc
            raise AuditError(f"could not append to the audit log: {exc}") from exc
        return written


def _chain(head: ChainHead, batches: Sequence[Sequence[Stamped]]) -> list[list[Row]]:
    """The rows following ``head``, per batch, chained across the batches in order."""
    seq, prev = head.seq, head.hash
    written: list[list[Row]] = []
    for stamped in batches:
        rows: list[Row] = []
        for event, ts in stamped:
            seq += 1
            digest = event_hash(prev, seq, ts, event)
            rows.append((seq, ts, event.trace_id, event.thread_id, event.user_id, event.kind.value,
                         event.payload_json, event.policy_hash, prev, digest))
            prev = digest
        written.append(rows)
    return written


class _Ticket:
    """One caller's batch in the queue, and what became of it."""

    __slots__ = ("done", "error", "rows", "stamped")

    def __init__(self, stamped: Sequence[Stamped]) -> None:
        self.stamped = stamped
        self.rows: list[Row] = []
        self.error: BaseException | None = None
        self.done = False


class GroupCommitter:
    """Commits the batches of concurrent callers in shared transactions (see the module docstring). Thread-safe."""

    def __init__(self, write: Callable[[Sequence[Sequence[Stamped]]], list[list[Row]]], *, grouped: bool = True
                 ) -> None:
        """Commit groups with ``write`` (all batches of a group in one transaction, or raise and store none);
        ``grouped=False`` commits one caller's batch per transaction (callers still queue, one commit at a time)."""
        self._write = write
        self._grouped = grouped
        self._reset()
        _COMMITTERS.add(self)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Ticket] = []
        self._leading = False
        self._commits = 0

    @property
    def commits(self) -> int:
        """Transactions committed so far (a group counts once)."""
        with self._cond:
            return self._commits

    def commit(self, stamped: Sequence[Stamped]) -> list[Row]:
        """Write ``stamped`` (non-empty) in the next group; its rows once they are committed."""
        ticket = _Ticket(stamped)
        group: list[_Ticket] | None = None
        with self._cond:
            self._queue.append(ticket)
            try:
                while self._leading and not ticket.done:
                    self._cond.wait()
            except BaseException:  # interrupted while waiting: withdraw the batch unless a leader took it already
                if ticket in self._queue:
                    self._queue.remove(ticket)
                raise
            if not ticket.done:  # nobody is committing: lead a group of everything queued, in queue order
                self._leading = True
                if self._grouped:
                    group, self._queue = self._queue, []
                else:
                    self._queue.remove(ticket)
                    group = [ticket]
        if group is not None:
            self._lead(group)
            if ticket.error is not None:
                raise ticket.error
        elif ticket.error is not None:
            raise _own_copy(ticket.error)
        return ticket.rows

    def _lead(self, group: list[_Ticket]) -> None:
        error: BaseException | None = None
        written: list[list[Row]] = []
        try:
            written = self._write([t.stamped for t in group])
        except BaseException as exc:  # handed to every caller of the group; the leader's own re-raises it
            error = exc
        with self._cond:
            for index, ticket in enumerate(group):
                if error is None:
                    ticket.rows = written[index]
                else:
                    ticket.error = error
                ticket.done = True
            if error is None:
                self._commits += 1
            self._leading = False
            self._cond.notify_all()


def _own_copy(error: BaseException) -> BaseException:
    """The group's error for one more caller: the same type and message, the original as its cause."""
    if not isinstance(error, AuditError):  # e.g. the leader was interrupted: its callers' appends failed
        twin: BaseException = AuditError(f"could not append to the audit log: {error!r}")
    else:
        try:
            twin = copy.copy(error)
        except Exception:  # an error type that cannot be rebuilt from its args: share the instance
            return error
    twin.__cause__ = error
    return twin


_COMMITTERS: weakref.WeakSet[GroupCommitter] = weakref.WeakSet()


def _reset_after_fork() -> None:
    # A child forked while another thread was leading a commit would wait for that thread forever.
    for committer in list(_COMMITTERS):
        committer._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
