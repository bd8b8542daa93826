"""The parallel verify walk (seq ranges checked in worker processes, links joined after) gives the same report as
the sequential walk and the reference walk (``thorough=True``): untouched logs with awkward text in every column,
every tamper kind, against an anchor, when a worker cannot start, and with rows appended while it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from guardrails.audit import _parallel
from guardrails.audit._store import audit_events, read_head, read_transaction
from guardrails.audit.anchoring import check_chain
from guardrails.audit.chain import AuditEvent, AuditKind
from guardrails.audit.log import AuditLog, ChainProblem
from guardrails.audit.verify import ChainChecker, CheckedRun
from tests.guardrails.audit.audit_helpers import event
from tests.guardrails.audit.test_anchor import anchored
from tests.guardrails.audit.test_log_tamper import TAMPERS, Tamper
from tests.guardrails.audit.test_verify_fast import ANCHORED

# Every character class json escapes or keeps: quote, backslash, control characters, line separators, non-ASCII.
AWKWARD = ['quote " backslash \\ slash /', "tab\tnewline\n\r\x01\x1f\x7f", "\u2028\u2029 😀 é", "Müller", "x"]


@pytest.fixture
def backend() -> str:
    """Worker processes read a SQLite file; Postgres keeps the sequential walk."""
    return "sqlite"


def _awkward(i: int) -> AuditEvent:
    text = AWKWARD[i % len(AWKWARD)]
    return AuditEvent(trace_id=f"tr {text} {i}", thread_id=None if i % 3 == 0 else f"{text}{i}", user_id=text,
                      kind=AuditKind.ANSWER, payload={text: [text, i, 1.5, None, {"ñ": True}], "i": i},
                      policy_hash=f"{text}{i % 2}")


def _set_blob(seq: int, column: str) -> Tamper:
    """Store a column's own text as a BLOB: same bytes, another type (the reference walk names it)."""
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE audit_events SET {column} = CAST({column} AS BLOB) WHERE seq = ?", (seq,))
    return run


CASES: dict[str, Tamper] = {name: tamper for name, (tamper, *_) in TAMPERS.items()}
CASES |= {"payload stored as blob": _set_blob(3, "payload"), "user_id stored as blob": _set_blob(5, "user_id"),
          "hash stored as blob": _set_blob(2, "hash")}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(("workers", "chunk_size"), [(1, 2), (2, 1)])
def test_parallel_sequential_and_reference_walks_give_the_same_report(
        log: AuditLog, engine: Engine, name: str, workers: int, chunk_size: int) -> None:
    log.append_many([event(i, trace=f"tr-{i}") for i in range(1, 7)])
    CASES[name](engine)
    parallel = log.verify(chunk_size=chunk_size, workers=workers)
    assert parallel == log.verify(chunk_size=chunk_size, workers=0)
    assert parallel == log.verify(chunk_size=chunk_size, thorough=True)
    if name in TAMPERS:
        _, bad_seq, problem, checked = TAMPERS[name]
        assert (parallel.first_bad_seq, parallel.problem, parallel.checked) == (bad_seq, problem, checked)
    else:
        assert not parallel.ok


def _walk_items(engine: Engine, *, workers: int, range_rows: int, watched: frozenset[int] = frozenset()
                ) -> list[Any]:
    with read_transaction(engine) as conn:
        pages = _parallel.parallel_pages(conn, workers=workers, page_size=100, watched=watched,
                                         range_rows=range_rows)
        assert pages is not None
        return list(pages)


def test_awkward_rows_are_accepted_by_the_workers_and_verify_ok(log: AuditLog, engine: Engine) -> None:
    """The workers hash the canonical text of every row the log writes: nothing is left to the sequential walk."""
    log.append_many([_awkward(i) for i in range(40)])
    items = _walk_items(engine, workers=1, range_rows=3)
    assert items[-2:] == [CheckedRun(40, log.head().hash), []]  # all 40 skipped to; the read after finds nothing
    report = log.verify(chunk_size=3, workers=1)
    assert report.ok and report.checked == 40
    assert report == log.verify(chunk_size=3, workers=0) == log.verify(thorough=True)


def test_a_failing_range_hands_over_to_the_sequential_walk_at_its_first_bad_row(log: AuditLog,
                                                                                engine: Engine) -> None:
    log.append_many([event(i) for i in range(1, 21)])
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 11).values(user_id="mallory"))
    items = _walk_items(engine, workers=1, range_rows=4)
    runs = [item for item in items if isinstance(item, CheckedRun)]
    assert runs[-1].last_seq == 10  # ranges 1-4, 5-8 and seq 9-10 of the third: the walk reads on from seq 11
    assert next(row[0] for page in items if not isinstance(page, CheckedRun) for row in page) == 11
    report = log.verify(chunk_size=4, workers=1)
    assert (report.first_bad_seq, report.problem, report.checked) == (11, ChainProblem.EDITED, 10)


def test_checkpointed_rows_come_back_for_the_full_check(log: AuditLog, engine: Engine) -> None:
    log.append_many([event(i) for i in range(1, 13)])
    items = _walk_items(engine, workers=1, range_rows=5, watched=frozenset({5, 10, 99}))
    rows = [page[0][0] for page in items if not isinstance(page, CheckedRun) and page]
    assert rows == [5, 10]
    with read_transaction(engine) as conn:
        walked = check_chain(items, read_head(conn), None)
    assert walked.ok and walked.checked == 12


@pytest.mark.parametrize("name", list(ANCHORED))
def test_parallel_and_reference_walks_agree_against_an_anchor(engine: Engine, tmp_path: Path, name: str) -> None:
    tamper, problem = ANCHORED[name]
    log = anchored(engine, tmp_path / "anchors.jsonl", every=5)
    for first, last in ((1, 5), (6, 10), (11, 12)):  # checkpoints at seq 5 and 10
        log.append_many([event(i) for i in range(first, last + 1)])
    tamper(engine)
    parallel = log.verify(chunk_size=3, workers=1)
    assert parallel == log.verify(chunk_size=3, thorough=True) == log.verify(chunk_size=3, workers=0)
    assert parallel.problem == problem
    assert parallel.anchor is not None and parallel.anchor.checkpoints == 2


def test_a_worker_that_cannot_start_leaves_its_ranges_to_this_thread(log: AuditLog, engine: Engine,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    log.append_many([event(i) for i in range(1, 31)])
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 17).values(ts="x"))
    expected = log.verify(workers=0)
    monkeypatch.setattr(_parallel.sys, "executable", "/nonexistent/python")
    assert log.verify(chunk_size=4, workers=2) == expected
    monkeypatch.setattr(_parallel.sys, "executable", "/bin/false")  # starts, then answers nothing
    assert log.verify(chunk_size=4, workers=2) == expected
    assert (expected.first_bad_seq, expected.problem) == (17, ChainProblem.EDITED)


def test_rows_appended_after_the_snapshot_are_not_walked(log: AuditLog, engine: Engine) -> None:
    """The workers read in their own snapshots, bounded by the last seq of the walk's: later appends (visible to
    them) are left out, as the sequential walk leaves them out."""
    log.append_many([event(i) for i in range(1, 11)])
    with read_transaction(engine) as conn:
        head = read_head(conn)  # the snapshot starts here
        log.append_many([event(i) for i in range(11, 21)])  # committed by another connection meanwhile
        pages = _parallel.parallel_pages(conn, workers=1, page_size=100, watched=(), range_rows=3)
        assert pages is not None
        report = check_chain(pages, head, None)
    assert report.ok and report.checked == 10
    assert log.verify(workers=1).checked == 20


def test_no_parallel_walk_where_it_does_not_apply(log: AuditLog, engine: Engine) -> None:
    log.append_many([event(i) for i in range(1, 4)])
    with read_transaction(engine) as conn:
        assert _parallel.parallel_pages(conn, workers=0, page_size=10, watched=()) is None
        assert _parallel.parallel_pages(conn, workers=None, page_size=10, watched=()) is None  # small log
    assert _parallel.auto_workers(_parallel.AUTO_MIN_ROWS - 1) == 0


def test_skip_to_never_goes_back() -> None:
    checker = ChainChecker()
    checker.skip_to(CheckedRun(5, "a" * 64))
    assert checker.checked == 5
    with pytest.raises(ValueError, match="cannot skip back"):
        checker.skip_to(CheckedRun(3, "b" * 64))
