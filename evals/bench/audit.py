"""Audit-log throughput: durable appends and chain verification per second (figures of ``jidoka bench``)."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from guardrails.audit.log import AuditEvent, AuditKind, AuditLog, Synchronous
from guardrails.errors import AuditError

__all__ = ["measure_append_throughput", "measure_verify_throughput"]


def _bench_event(i: int) -> AuditEvent:
    return AuditEvent(
        trace_id=f"bench-{i // 10}", thread_id="bench", user_id="bench.user", kind=AuditKind.TOOL_RESULT,
        payload={"tool": "inventory.stock_position", "args": {"item_id": "FG-1001", "site_id": "P100"},
                 "record_ids": ["LOT-P100-0423", "LOT-P100-0424"], "rows": i % 7, "ms": 12.5},
        policy_hash="b" * 64,
    )


def measure_append_throughput(
    engine: Engine, *, events: int, batch: int, synchronous: Synchronous = "FULL"
) -> float:
    """Durable events per second appending ``events`` events in buffers of ``batch`` to ``engine``.

    Writes real rows: point it at a scratch database. Event building is outside
    the timed part; stamping, hashing and committing are inside.
    """
    if events < 1 or batch < 1:
        raise ValueError("events and batch must be >= 1")
    log = AuditLog(engine, synchronous=synchronous)
    log.create_schema()
    prepared = [_bench_event(i) for i in range(events)]
    start = time.perf_counter()
    for offset in range(0, events, batch):
        with log.buffer() as buf:
            for event in prepared[offset:offset + batch]:
                buf.add(event)
    return events / (time.perf_counter() - start)


def measure_verify_throughput(engine: Engine) -> float:
    """Records per second :meth:`AuditLog.verify` checks on ``engine`` (raises if the chain is broken)."""
    log = AuditLog(engine)
    start = time.perf_counter()
    report = log.verify()
    elapsed = time.perf_counter() - start
    if not report.ok:
        raise AuditError(f"cannot measure verify on a broken chain: {report.reason}")
    return report.checked / elapsed if elapsed > 0 else float("inf")
