"""Writing the audit log: group commit through buffers, and two processes or several threads appending to one
valid chain."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine

from guardrails.audit.log import AuditEvent, AuditKind, AuditLog
from guardrails.errors import AuditSchemaMissing
from tests.guardrails.audit.audit_helpers import drop_head, event
from tools.plant.db import make_engine

# -- group commit ------------------------------------------------------------------------------


def test_buffer_commits_on_flush_and_is_visible_to_another_engine(log: AuditLog, db_url: str) -> None:
    other = make_engine(db_url)
    try:
        reader = AuditLog(other)
        buf = log.buffer()
        for i in range(10):
            buf.add(event(i))
        assert buf.pending == 10
        assert reader.count() == 0
        records = buf.flush()
        assert [r.seq for r in records] == list(range(1, 11))
        assert buf.pending == 0
        assert reader.count() == 10
        assert reader.verify().ok
        assert buf.flush() == []
    finally:
        other.dispose()


def test_buffer_context_flushes_even_when_the_turn_raises(log: AuditLog, db_url: str) -> None:
    with pytest.raises(RuntimeError, match="model timed out"), log.buffer() as buf:
        buf.add(event(1, kind=AuditKind.PROMPT))
        buf.add(event(2, kind=AuditKind.MODEL_REQUEST))
        raise RuntimeError("model timed out")
    other = make_engine(db_url)
    try:
        kinds = [r.kind for r in AuditLog(other).by_trace("tr-1")]
    finally:
        other.dispose()
    assert kinds == ["prompt", "model_request"]


def test_failed_flush_keeps_events_for_a_retry(log: AuditLog, engine: Engine) -> None:
    buf = log.buffer()
    buf.add(event(1))
    buf.add(event(2))
    drop_head(engine)
    with pytest.raises(AuditSchemaMissing):
        buf.flush()
    assert buf.pending == 2
    log.create_schema()  # restores the genesis head on the empty table
    assert [r.seq for r in buf.flush()] == [1, 2]
    assert log.verify().ok


def test_buffer_stamps_events_when_added(log: AuditLog) -> None:
    buf = log.buffer()
    buf.add(event(1))
    buf.add(event(2))
    stamps = [r.ts for r in buf.flush()]
    assert stamps == ["2026-03-02T06:00:00.000000+00:00", "2026-03-02T06:00:01.000000+00:00"]


# -- several processes -------------------------------------------------------------------------


def append_from_process(url: str, writer: str, events: int, batch: int, start_line: Any) -> None:
    """Child-process body: wait for the other writer, then append ``events`` in buffers of ``batch``."""
    eng = make_engine(url)
    try:
        audit = AuditLog(eng)
        audit.count()  # connect (and import everything) before the race starts
        start_line.wait(timeout=30)
        for start in range(0, events, batch):
            with audit.buffer() as buf:
                for i in range(start, min(start + batch, events)):
                    buf.add(AuditEvent(f"{writer}-{i // batch}", None, writer, AuditKind.TOOL_RESULT,
                                       {"writer": writer, "i": i}, "p"))
            time.sleep(0.001)  # leave the lock free a moment so the writers really interleave
    finally:
        eng.dispose()


def test_two_processes_appending_keep_one_valid_chain(log: AuditLog, db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start_line = ctx.Barrier(2)
    procs = [ctx.Process(target=append_from_process, args=(db_url, w, 500, 10, start_line))
             for w in ("alpha", "beta")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]

    report = log.verify(chunk_size=128)
    assert report.ok, report.reason
    assert report.checked == 1000 and log.head().seq == 1000
    by_writer: dict[str, list[int]] = {"alpha": [], "beta": []}
    writers = []
    for record in log.export():
        by_writer[record.user_id].append(record.payload["i"])
        writers.append(record.user_id)
    switches = sum(a != b for a, b in itertools.pairwise(writers))
    assert switches >= 1, "the writers never interleaved, so the test did not exercise the lock"
    assert by_writer == {"alpha": list(range(500)), "beta": list(range(500))}


def test_threads_sharing_one_log_keep_one_chain(log: AuditLog) -> None:
    def work(name: str) -> None:
        for i in range(0, 60, 6):
            log.append_many([event(j, trace=name) for j in range(i, i + 6)])

    threads = [threading.Thread(target=work, args=(f"thread-{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = log.verify()
    assert report.ok and report.checked == 240
    for k in range(4):
        assert [r.payload["i"] for r in log.by_trace(f"thread-{k}")] == list(range(60))
