"""Every kind of tamper with the audit chain is found and named (first bad seq, problem, last good seq), and an
append never forks a chain written outside the log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select, update

from guardrails.audit._store import audit_events, audit_head
from guardrails.audit.log import GENESIS_HASH, AuditLog, ChainProblem, canonical_json
from guardrails.errors import AuditChainConflict, AuditSchemaMissing
from tests.guardrails.audit.audit_helpers import drop_head, event, independent_hash

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
    "drop head": (drop_head, None, ChainProblem.HEAD_MISSING, 6),
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
    drop_head(engine)
    with pytest.raises(AuditSchemaMissing, match="audit_head"):
        log.append(event(2))
