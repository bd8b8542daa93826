"""A flipped byte in the middle of a million events is found at its seq (issue 18, item 4)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from guardrails.audit.chain import GENESIS_HASH
from guardrails.audit.log import AuditLog, ChainProblem

EVENTS = 1_000_000
FLIPPED = 500_000


@pytest.fixture
def backend() -> str:
    """Built with the sqlite3 driver directly: a million rows go in within seconds."""
    return "sqlite"


def _rows(head: list[str]) -> Iterator[tuple[object, ...]]:
    """The million rows, hashed with hashlib and the spec's text written out (what the log would store)."""
    prev, sha256 = GENESIS_HASH, hashlib.sha256
    for seq in range(1, EVENTS + 1):
        ts = f"2026-03-02T06:00:{seq // 1_000_000:02d}.{seq % 1_000_000:06d}+00:00"  # one microsecond apart
        payload = f'{{"i":{seq},"record_ids":["LOT-{seq % 97}"],"tool":"inventory.stock_position"}}'
        text = (f'{prev}{{"kind":"tool_result","payload":{payload},"policy_hash":"{"p" * 64}","seq":{seq},'
                f'"thread_id":"th-{seq // 12}","trace_id":"tr-{seq // 12}","ts":"{ts}","user_id":"ana.planner"}}')
        digest = sha256(text.encode()).hexdigest()
        yield (seq, ts, f"tr-{seq // 12}", f"th-{seq // 12}", "ana.planner", "tool_result", payload, "p" * 64,
               prev, digest)
        prev = digest
    head.append(prev)


def test_a_flipped_byte_in_the_middle_of_a_million_events_is_found(engine: Engine) -> None:
    log = AuditLog(engine)
    log.create_schema()
    database = engine.url.database
    assert database is not None
    head: list[str] = []
    with sqlite3.connect(database) as conn:  # one transaction
        conn.executemany("INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?,?)", _rows(head))
        conn.execute("UPDATE audit_head SET last_seq = ?, last_hash = ?", (EVENTS, head[0]))
        # the middle row's payload with one bit of its middle byte flipped
        (payload,) = conn.execute("SELECT payload FROM audit_events WHERE seq = ?", (FLIPPED,)).fetchone()
        middle = len(payload) // 2
        flipped = payload[:middle] + chr(ord(payload[middle]) ^ 1) + payload[middle + 1:]
        assert flipped != payload
        conn.execute("UPDATE audit_events SET payload = ? WHERE seq = ?", (flipped, FLIPPED))
    conn.close()

    report = log.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, FLIPPED, ChainProblem.EDITED)
    assert report.checked == FLIPPED - 1
    assert report.head is not None and report.head.seq == EVENTS
