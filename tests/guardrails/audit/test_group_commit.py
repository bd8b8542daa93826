"""Group commit: turns flushed together share one transaction, the chain and head are as if written one by one,
each caller gets its own records, and a failed group stores nothing and fails every caller in it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine

from guardrails.audit._group_commit import Row, Stamped
from guardrails.audit.log import AuditLog, AuditRecord
from guardrails.errors import AuditChainConflict, AuditError
from tests.guardrails.audit.audit_helpers import StepClock, event
from tests.guardrails.audit.test_log_tamper import _append_outside

TURNS = 16
EVENTS_PER_TURN = 12


def _turn(thread: int, turn: int) -> list[Any]:
    return [event(i, trace=f"tr-{thread}-{turn}", thread=thread) for i in range(EVENTS_PER_TURN)]


def _run_turns(log: AuditLog, threads: int, turns: int) -> list[list[AuditRecord]]:
    """``threads`` threads each flushing ``turns`` turns through a buffer; every flush's records."""
    results: list[list[AuditRecord]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(thread: int) -> None:
        try:
            start.wait()
            for turn in range(turns):
                buffer = log.buffer()
                for ev in _turn(thread, turn):
                    buffer.add(ev)
                written = buffer.flush()
                with lock:
                    results.append(written)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    return results


@pytest.mark.parametrize("group_commit", [True, False])
def test_concurrent_turns_keep_one_valid_chain(engine: Engine, group_commit: bool) -> None:
    log = AuditLog(engine, clock=StepClock(), group_commit=group_commit)
    log.create_schema()
    results = _run_turns(log, threads=8, turns=15)
    assert log.count() == 8 * 15 * EVENTS_PER_TURN
    report = log.verify()
    assert report.ok and report.checked == log.count()
    stored = {record.seq: record for record in log.export()}
    for written in results:  # each caller's own events, contiguous, exactly as stored
        assert len(written) == EVENTS_PER_TURN and len({r.trace_id for r in written}) == 1
        assert [r.seq for r in written] == list(range(written[0].seq, written[0].seq + EVENTS_PER_TURN))
        assert all(stored[r.seq] == r for r in written)
    if not group_commit:
        assert log.commits == 8 * 15


def _hold_first_commit(log: AuditLog, waiting: int) -> Callable[[], None]:
    """Make the log's first transaction wait until ``waiting`` more callers have queued behind it; returns the
    undo. Synchronisation only (it polls the queue), so the grouping below is certain, not timing-dependent."""
    committer = log._committer
    write = committer._write
    first = [True]

    def held(batches: Sequence[Sequence[Stamped]]) -> list[list[Row]]:
        if first[0]:
            first[0] = False
            deadline = time.monotonic() + 60
            while True:
                with committer._cond:
                    if len(committer._queue) >= waiting:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the other callers never queued")
                time.sleep(0.001)
        return write(batches)

    committer._write = held

    def undo() -> None:
        committer._write = write
    return undo


@pytest.fixture
def grouped(engine: Engine) -> Iterator[AuditLog]:
    log = AuditLog(engine, clock=StepClock())
    log.create_schema()
    yield log


def test_turns_that_finish_together_share_one_commit(grouped: AuditLog) -> None:
    _hold_first_commit(grouped, waiting=TURNS - 1)
    results = _run_turns(grouped, threads=TURNS, turns=1)
    assert grouped.commits == 2 < TURNS  # the first turn alone, then the fifteen that queued behind it
    assert len(results) == TURNS and grouped.count() == TURNS * EVENTS_PER_TURN
    assert grouped.verify().ok
    head = grouped.head()
    assert head.seq == TURNS * EVENTS_PER_TURN
    assert head.hash == max((r for written in results for r in written), key=lambda r: r.seq).hash


def test_a_lone_caller_commits_at_once(grouped: AuditLog) -> None:
    for turn in range(3):
        grouped.append_many(_turn(0, turn))
    assert grouped.commits == 3 and grouped.verify().ok


def test_a_failed_group_fails_every_caller_and_stores_nothing(grouped: AuditLog, engine: Engine) -> None:
    grouped.append_many(_turn(0, 0))
    _append_outside()(engine)  # the next seq is taken: the next transaction fails on the unique seq
    _hold_first_commit(grouped, waiting=TURNS - 1)
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(TURNS)

    def work(thread: int) -> None:
        start.wait()
        try:
            grouped.append_many(_turn(thread, 1))
        except AuditError as exc:
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(TURNS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(errors) == TURNS
    assert all(isinstance(exc, AuditChainConflict) and "outside the audit log" in str(exc) for exc in errors)
    assert grouped.count() == EVENTS_PER_TURN + 1  # the first turn and the row written outside; no group's row
    assert grouped.commits == 1
