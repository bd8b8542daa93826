"""The audit log: chain basics, every kind of tamper, group commit, two writer processes, canonical JSON."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, update

from guardrails.audit._store import WritePlan, audit_events, audit_head
from guardrails.audit.log import (
    GENESIS_HASH,
    AuditEvent,
    AuditKind,
    AuditLog,
    ChainProblem,
    canonical_json,
    format_ts,
)
from guardrails.errors import AuditChainConflict, AuditError, AuditEventInvalid, AuditSchemaMissing
from tools.plant.db import make_engine

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class StepClock:
    """A clock advancing one second per reading, so timestamps are known and distinct."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        current = self.now
        self.now += timedelta(seconds=1)
        return current


def event(i: int, *, trace: str = "tr-1", kind: AuditKind = AuditKind.TOOL_RESULT, **payload: Any
          ) -> AuditEvent:
    return AuditEvent(trace_id=trace, thread_id="th-1", user_id="ana.planner", kind=kind,
                      payload={"i": i, **payload}, policy_hash="p" * 64)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def log(engine: Engine) -> AuditLog:
    audit = AuditLog(engine, clock=StepClock())
    audit.create_schema()
    return audit


def independent_hash(prev: str, row: dict[str, Any]) -> str:
    """The spec's formula written out again without the module's helpers."""
    body = {k: row[k] for k in ("seq", "ts", "trace_id", "thread_id", "user_id", "kind", "policy_hash")}
    body["payload"] = row["payload"]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + text).encode("utf-8")).hexdigest()


# -- chain basics ------------------------------------------------------------------------------


def test_append_links_records_from_genesis_and_verifies(log: AuditLog) -> None:
    first = log.append(event(1, kind=AuditKind.PROMPT, text="Why is P100-PK1 scrapping?"))
    rest = log.append_many([event(2), event(3, kind=AuditKind.ANSWER)])
    records = [first, *rest]

    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH == "0" * 64
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    prev = GENESIS_HASH
    for r in records:
        assert r.hash == independent_hash(prev, r.to_json_dict())
        prev = r.hash
    assert records[0].ts == "2026-03-02T06:00:00.000000+00:00"
    assert log.head().seq == 3 and log.head().hash == records[-1].hash
    report = log.verify()
    assert report.ok and report.checked == 3 and report.first_bad_seq is None and report.problem is None


def test_stored_rows_match_returned_records(log: AuditLog, engine: Engine) -> None:
    records = log.append_many([event(i, trace=f"tr-{i % 2}") for i in range(5)])
    assert log.count() == 5
    assert log.tail(2) == records[3:]
    assert log.tail(0) == []
    assert log.tail(50) == records
    assert log.by_trace("tr-1") == [r for r in records if r.trace_id == "tr-1"]
    assert log.by_trace("nope") == []
    assert list(log.export()) == records
    with engine.connect() as conn:
        stored = conn.execute(select(audit_events.c.payload).where(audit_events.c.seq == 2)).scalar_one()
    assert stored == '{"i":1}'


def test_export_since_filters_by_timestamp(log: AuditLog) -> None:
    log.append_many([event(1)])  # stamped 06:00:00
    log.append(event(2))  # 06:00:01
    log.append(event(3))  # 06:00:02
    since = [r.seq for r in log.export(T0 + timedelta(seconds=1))]
    assert since == [2, 3]
    naive_is_utc = [r.seq for r in log.export(datetime(2026, 3, 2, 6, 0, 2))]
    assert naive_is_utc == [3]
    other_zone = datetime(2026, 3, 2, 1, 0, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert [r.seq for r in log.export(other_zone)] == [2, 3]


def test_empty_log_verifies_and_create_schema_is_idempotent(log: AuditLog) -> None:
    log.create_schema()
    assert log.count() == 0
    assert log.head().seq == 0 and log.head().hash == GENESIS_HASH
    assert log.append_many([]) == []
    report = log.verify()
    assert report.ok and report.checked == 0


def test_invalid_events_are_refused_with_the_field_named() -> None:
    with pytest.raises(AuditEventInvalid, match="kind"):
        AuditEvent("t", None, "u", "made_up", {}, "p")  # type: ignore[arg-type]
    with pytest.raises(AuditEventInvalid, match=r"payload\.rows\[1\]\.qty.*Decimal"):
        AuditEvent("t", None, "u", AuditKind.TOOL_RESULT, {"rows": [{}, {"qty": Decimal("1.5")}]}, "p")
    with pytest.raises(AuditEventInvalid, match="NaN"):
        AuditEvent("t", None, "u", AuditKind.TOOL_RESULT, {"x": float("nan")}, "p")
    with pytest.raises(AuditEventInvalid, match="keys must be strings"):
        AuditEvent("t", None, "u", AuditKind.TOOL_RESULT, {1: "a"}, "p")  # type: ignore[dict-item]
    with pytest.raises(AuditEventInvalid, match="trace_id"):
        AuditEvent("", None, "u", AuditKind.ANSWER, {}, "p")
    with pytest.raises(AuditEventInvalid, match="payload"):
        AuditEvent("t", None, "u", AuditKind.ANSWER, ["not", "an", "object"], "p")  # type: ignore[arg-type]
    coerced = AuditEvent("t", None, "u", "answer", {"k": (1, 2)}, "")  # type: ignore[arg-type]
    assert coerced.kind is AuditKind.ANSWER and coerced.payload == {"k": [1, 2]}


def test_payload_is_copied_at_construction(log: AuditLog) -> None:
    payload: dict[str, Any] = {"rows": [1]}
    ev = AuditEvent("t", None, "u", AuditKind.TOOL_RESULT, payload, "p")
    payload["rows"].append(2)
    record = log.append(ev)
    assert record.payload == {"rows": [1]}
    assert log.verify().ok


def test_canonical_json_is_stable_for_unicode_floats_and_nesting(log: AuditLog) -> None:
    payload = {"z": [1.0, 0.1, 1e-7, 1e16, -0.0, 2.5e300],
               "a": {"ñ": "Müller ✓ 日本", "b": [True, None, {"y": 1, "x": 2}]}}
    text = canonical_json(payload)
    assert text == ('{"a":{"b":[true,null,{"x":2,"y":1}],"ñ":"Müller ✓ 日本"},'
                    '"z":[1.0,0.1,1e-07,1e+16,-0.0,2.5e+300]}')
    assert canonical_json(json.loads(text)) == text
    reordered = {"a": {"b": [True, None, {"x": 2, "y": 1}], "ñ": "Müller ✓ 日本"}, "z": payload["z"]}
    assert canonical_json(reordered) == text
    record = log.append(AuditEvent("t", None, "u", AuditKind.MODEL_RESPONSE, payload, "p"))
    assert log.by_trace("t") == [record]
    assert record.hash == independent_hash(GENESIS_HASH, record.to_json_dict())
    assert log.verify().ok


@pytest.mark.parametrize("text", ['quote " backslash \\ slash /', "tab\tnewline\n\x00\x1f",
                                  "\u2028\u2029 😀 é", "Müller", ""])
def test_hash_matches_the_spec_formula_for_awkward_strings(log: AuditLog, text: str) -> None:
    ident = text or "x"
    record = log.append(AuditEvent(f"tr {ident}", ident, f"u {ident}", AuditKind.PROMPT, {text: text}, text))
    assert record.hash == independent_hash(GENESIS_HASH, record.to_json_dict())
    assert log.verify().ok


def test_write_statements_compile_for_postgres() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    pg = WritePlan.for_dialect(postgresql.dialect())
    assert "FOR UPDATE" in pg.head_for_update.sql
    assert pg.insert.positional is None and "%(seq)s" in pg.insert.sql
    assert pg.move_head.bind({"head_id": 1, "new_seq": 2, "new_hash": "h"}) == {"head_id": 1, "new_seq": 2,
                                                                                "new_hash": "h"}
    lite = WritePlan.for_dialect(sqlite.dialect())
    assert "FOR UPDATE" not in lite.head_for_update.sql  # BEGIN IMMEDIATE holds the lock instead
    assert lite.insert.positional == tuple(c.name for c in audit_events.c)


def test_clock_must_be_timezone_aware(engine: Engine) -> None:
    naive = AuditLog(engine, clock=lambda: datetime(2026, 3, 2, 6, 0))
    naive.create_schema()
    with pytest.raises(AuditError, match="timezone-aware"):
        naive.append(event(1))
    assert format_ts(datetime(2026, 3, 2, 7, 0, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-03-02T06:00:00.000000+00:00")


def test_missing_schema_is_a_typed_error(engine: Engine) -> None:
    bare = AuditLog(engine)
    assert not bare.has_schema()
    with pytest.raises(AuditSchemaMissing):
        bare.append(event(1))
    with pytest.raises(AuditSchemaMissing):
        bare.verify()


# -- tampering ---------------------------------------------------------------------------------

Tamper = Callable[[Engine], None]


def _set(seq: int, **values: Any) -> Tamper:
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(**values))
    return run


def _delete(*seqs: int) -> Tamper:
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(delete(audit_events).where(audit_events.c.seq.in_(seqs)))
    return run


def _row(conn: Any, seq: int) -> dict[str, Any]:
    return dict(conn.execute(select(audit_events).where(audit_events.c.seq == seq)).mappings().one())


def _swap(a: int, b: int) -> Tamper:
    """Swap two rows' positions: each row keeps its own columns but takes the other's seq."""
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            ra, rb = _row(conn, a), _row(conn, b)
            for row, seq in ((ra, b), (rb, a)):
                values = {k: v for k, v in row.items() if k != "seq"}
                conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(**values))
    return run


def _swap_payloads(a: int, b: int) -> Tamper:
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            pa, pb = _row(conn, a)["payload"], _row(conn, b)["payload"]
            conn.execute(update(audit_events).where(audit_events.c.seq == a).values(payload=pb))
            conn.execute(update(audit_events).where(audit_events.c.seq == b).values(payload=pa))
    return run


def _forged(seq: int, prev: str) -> dict[str, Any]:
    row = {"seq": seq, "ts": "2026-03-02T06:30:00.000000+00:00", "trace_id": "forged", "thread_id": None,
           "user_id": "mallory", "kind": "action_executed", "payload": {"po": "PO-24017"},
           "policy_hash": "p" * 64}
    row["prev_hash"] = prev
    row["hash"] = independent_hash(prev, row)
    row["payload"] = canonical_json(row["payload"])
    return row


def _insert_middle(at: int) -> Tamper:
    """Shift seq >= at up by one and slot a well-formed forged row in at ``at``."""
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            seq = audit_events.c.seq
            conn.execute(update(audit_events).where(seq >= at).values(seq=-seq))  # two steps: PK stays unique
            conn.execute(update(audit_events).where(seq < 0).values(seq=1 - seq))
            prev = _row(conn, at - 1)["hash"]
            conn.execute(insert(audit_events).values(**_forged(at, prev)))
            conn.execute(update(audit_head).values(last_seq=audit_head.c.last_seq + 1))
    return run


def _append_outside() -> Tamper:
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            top = conn.execute(select(func.max(audit_events.c.seq))).scalar_one()
            conn.execute(insert(audit_events).values(**_forged(top + 1, _row(conn, top)["hash"])))
    return run


def _insert_at(seq: int) -> Tamper:
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(insert(audit_events).values(**_forged(seq, GENESIS_HASH)))
    return run


def _rehash_edit(seq: int) -> Tamper:
    """Edit a row and recompute its own hash properly (the next row's link still breaks)."""
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            row = _row(conn, seq)
            row["user_id"] = "mallory"
            row["payload"] = json.loads(row["payload"])
            new_hash = independent_hash(row["prev_hash"], row)
            conn.execute(update(audit_events).where(audit_events.c.seq == seq)
                         .values(user_id="mallory", hash=new_hash))
    return run


def _nothing(engine: Engine) -> None:
    """The control case: no tampering."""


def _drop_head(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(audit_head))


def _edit_head(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(update(audit_head).values(last_hash="f" * 64))


# name -> (tamper, first bad seq, problem, rows checked intact before it); the log holds seq 1..6.
TAMPERS: dict[str, tuple[Tamper, int | None, ChainProblem | None, int]] = {
    "untouched": (_nothing, None, None, 6),
    "edit ts": (_set(3, ts="2026-03-02T05:00:00.000000+00:00"), 3, ChainProblem.EDITED, 2),
    "edit trace_id": (_set(3, trace_id="tr-other"), 3, ChainProblem.EDITED, 2),
    "edit thread_id": (_set(3, thread_id=None), 3, ChainProblem.EDITED, 2),
    "edit user_id": (_set(3, user_id="mallory"), 3, ChainProblem.EDITED, 2),
    "edit kind": (_set(3, kind="answer"), 3, ChainProblem.EDITED, 2),
    "edit payload": (_set(3, payload='{"i":999}'), 3, ChainProblem.EDITED, 2),
    "edit payload to non-json": (_set(3, payload="{oops"), 3, ChainProblem.EDITED, 2),
    "reformat payload": (_set(3, payload='{"i": 3}'), 3, ChainProblem.NOT_CANONICAL, 2),
    "edit policy_hash": (_set(3, policy_hash="q" * 64), 3, ChainProblem.EDITED, 2),
    "edit hash": (_set(3, hash="0" * 64), 3, ChainProblem.EDITED, 2),
    "edit prev_hash": (_set(3, prev_hash="1" * 64), 3, ChainProblem.RELINKED_EDITED, 2),
    "edit newest row": (_set(6, user_id="mallory"), 6, ChainProblem.EDITED, 5),
    "edit and rehash": (_rehash_edit(3), 4, ChainProblem.RELINKED, 3),
    "delete middle": (_delete(3), 3, ChainProblem.DELETED, 2),
    "delete first": (_delete(1), 1, ChainProblem.DELETED, 0),
    "delete tail": (_delete(5, 6), 5, ChainProblem.TRUNCATED, 4),
    "delete everything": (_delete(1, 2, 3, 4, 5, 6), 1, ChainProblem.TRUNCATED, 0),
    "insert in middle": (_insert_middle(3), 4, ChainProblem.RELINKED_EDITED, 3),
    "append outside the log": (_append_outside(), 7, ChainProblem.HEAD_BEHIND, 7),
    "insert before the first": (_insert_at(0), 0, ChainProblem.UNEXPECTED_SEQ, 0),
    "swap rows": (_swap(2, 4), 2, ChainProblem.RELINKED_EDITED, 1),
    "swap payloads": (_swap_payloads(2, 4), 2, ChainProblem.EDITED, 1),
    "drop head": (_drop_head, None, ChainProblem.HEAD_MISSING, 6),
    "edit head": (_edit_head, 6, ChainProblem.HEAD_EDITED, 6),
}


@pytest.mark.parametrize("name", list(TAMPERS))
@pytest.mark.parametrize("chunk_size", [2, 2000])
def test_verify_names_the_first_bad_seq(log: AuditLog, engine: Engine, name: str, chunk_size: int) -> None:
    tamper, bad_seq, problem, checked = TAMPERS[name]
    log.append_many([event(i, trace=f"tr-{i}") for i in range(1, 7)])
    tamper(engine)
    report = log.verify(chunk_size=chunk_size)
    assert report.ok is (problem is None)
    assert report.first_bad_seq == bad_seq
    assert report.problem == problem
    assert report.checked == checked
    if problem is None:
        assert report.reason is None
    else:
        assert report.reason is not None and report.reason.startswith(problem.value)


def test_append_after_outside_write_refuses_to_fork(log: AuditLog, engine: Engine) -> None:
    log.append_many([event(i) for i in range(3)])
    _append_outside()(engine)
    with pytest.raises(AuditChainConflict, match="outside the audit log"):
        log.append(event(9))
    assert log.count() == 4  # nothing half-written


def test_append_without_head_row_is_refused(log: AuditLog, engine: Engine) -> None:
    log.append(event(1))
    _drop_head(engine)
    with pytest.raises(AuditSchemaMissing, match="audit_head"):
        log.append(event(2))


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
    _drop_head(engine)
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
