"""The audit log's fast paths give exactly what the spelled-out definitions give (bytes, hashes, records)."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import Engine

from guardrails.audit._stamps import UtcStamps
from guardrails.audit._store import SqliteAppender, sqlite_appender
from guardrails.audit.chain import (
    AuditEvent,
    AuditKind,
    AuditRecord,
    _plain_json,
    canonical_event,
    canonical_json,
    chain_hash,
    event_hash,
)
from guardrails.audit.log import AuditLog, format_ts
from guardrails.errors import AuditError, AuditEventInvalid
from tools.plant.db import make_engine

AWKWARD = ['quote " backslash \\ slash /', "tab\tnewline\n\x00\x1f", "\u2028\u2029 😀 é", "Müller", "x"]


@pytest.fixture
def backend() -> str:
    """The kept-connection appender and the fast paths under test are SQLite's own."""
    return "sqlite"


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _tree(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.random()
    if depth > 3 or pick < 0.45:
        return rng.choice(["", "ñ ✓", "a\"b\\c", "\u2028", 0, -7, 10**20, 1.5, -0.0, 1e-7, 2.5e300, True, False, None])
    if pick < 0.75:
        return {rng.choice(["a", "b", "ñ", "Z", "", "x y"]): _tree(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if pick < 0.9:
        return [_tree(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return tuple(_tree(rng, depth + 1) for _ in range(rng.randint(0, 3)))


def test_event_payload_copy_and_text_match_the_definitions() -> None:
    rng = random.Random(20260302)
    for _ in range(3000):
        payload = {"p": _tree(rng)}
        event = AuditEvent("tr", "th", "u", AuditKind.TOOL_RESULT, payload, "h")
        assert event.payload == _plain_json(payload, "payload")
        assert event.payload_json == canonical_json(event.payload) == _dumps(payload)


class Color(StrEnum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


class Tuple3(Sequence[int]):
    def __getitem__(self, i: Any) -> Any:
        return [1, 2, 3][i]

    def __len__(self) -> int:
        return 3


@pytest.mark.parametrize("payload, expected", [
    ({Color.RED: Color.RED, "n": Level.HIGH}, {"red": "red", "n": 3}),
    ({"m": MappingProxyType({"b": 1, "a": (2, 3)})}, {"m": {"a": [2, 3], "b": 1}}),
    ({"s": Tuple3()}, {"s": [1, 2, 3]}),
    (MappingProxyType({"k": "v"}), {"k": "v"}),
])
def test_unusual_but_valid_payloads_take_the_careful_copy(payload: Any, expected: dict[str, Any]) -> None:
    event = AuditEvent("tr", None, "u", "tool_result", payload, "")  # type: ignore[arg-type]
    assert event.payload == expected and type(event.payload) is dict
    assert all(type(k) is str for k in event.payload)
    assert event.payload_json == _dumps(expected)


@pytest.mark.parametrize("payload, match", [
    ({"x": float("nan")}, "NaN"),
    ({"x": [1, {"y": float("inf")}]}, "NaN"),
    ({1: "a"}, "keys must be strings"),
    ({"x": {2: "a"}}, "keys must be strings"),
    ({"x": b"bytes"}, "bytes is not JSON"),
    ({"x": {1, 2}}, "set is not JSON"),
])
def test_invalid_payloads_are_refused_as_before(payload: Any, match: str) -> None:
    with pytest.raises(AuditEventInvalid, match=match):
        AuditEvent("tr", None, "u", AuditKind.ANSWER, payload, "")


def test_invalid_ids_are_refused_as_before() -> None:
    for args in [("", None, "u", ""), ("t", "", "u", ""), ("t", None, "", ""), ("t" * 256, None, "u", ""),
                 ("t", None, "u", "p" * 256), (1, None, "u", ""), ("t", 2, "u", ""), ("t", None, "u", None)]:
        trace, thread, user, policy = args
        with pytest.raises(AuditEventInvalid):
            AuditEvent(trace, thread, user, AuditKind.ANSWER, {}, policy)  # type: ignore[arg-type]
    with pytest.raises(AuditEventInvalid, match="unknown kind"):
        AuditEvent("t", None, "u", "nope", {}, "")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", AWKWARD)
@pytest.mark.parametrize("thread", [None, "th-1"])
def test_event_hash_is_chain_hash_of_the_canonical_event(text: str, thread: str | None) -> None:
    ident = text.replace("\x00", "")  # identifiers refuse NUL (Postgres text cannot hold it); payloads keep it
    event = AuditEvent(f"tr {ident}", thread and f"{thread}{ident}", f"u {ident}", AuditKind.PROMPT, {text: text},
                       ident)
    ts = "2026-03-02T06:00:00.000001+00:00"
    expected = chain_hash("a" * 64, canonical_event(
        seq=42, ts=ts, trace_id=event.trace_id, thread_id=event.thread_id, user_id=event.user_id,
        kind=event.kind.value, payload_json=event.payload_json, policy_hash=event.policy_hash))
    assert event_hash("a" * 64, 42, ts, event) == expected


def test_record_of_equals_the_constructor() -> None:
    args = (3, "ts", "tr", None, "u", "answer", {"a": [1]}, "p", "0" * 64, "f" * 64)
    fast, slow = AuditRecord.of(*args), AuditRecord(*args)
    assert fast == slow and repr(fast) == repr(slow) and vars(fast) == vars(slow)
    with pytest.raises(AttributeError):
        fast.seq = 4  # type: ignore[misc]


def test_utc_stamps_format_as_format_ts_does() -> None:
    stamps = UtcStamps()
    pattern = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00")
    for _ in range(3):
        before = format_ts(datetime.now(UTC))
        stamp = stamps()
        after = format_ts(datetime.now(UTC))
        assert pattern.fullmatch(stamp) and before <= stamp <= after
        assert format_ts(datetime.fromisoformat(stamp)) == stamp
        time.sleep(0.01)


def test_default_clock_stamps_and_records_verify(engine: Engine) -> None:
    log = AuditLog(engine)
    log.create_schema()
    with log.buffer() as buf:  # the context manager writes without building records
        for i in range(5):
            buf.add(AuditEvent("tr-1", None, "u", AuditKind.TOOL_RESULT, {"i": i}, "p"))
    flushed = log.append_many([AuditEvent("tr-2", "th", "u", AuditKind.ANSWER, {"i": 9}, "p")])
    records = log.by_trace("tr-1") + log.by_trace("tr-2")
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6] and records[-1] == flushed[0]
    assert all(r.ts.endswith("+00:00") for r in records) and [r.ts for r in records] == sorted(r.ts for r in records)
    assert log.verify().ok


def _pragma_synchronous(appender: SqliteAppender) -> int:
    connection = appender._connection
    assert isinstance(connection, sqlite3.Connection)
    return int(connection.execute("PRAGMA synchronous").fetchone()[0])


@pytest.mark.parametrize("level, code", [("FULL", 2), ("NORMAL", 1)])
def test_appends_run_on_a_kept_connection_at_the_chosen_durability(engine: Engine, level: Any, code: int) -> None:
    log = AuditLog(engine, synchronous=level)
    log.create_schema()
    log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
    appender = log._appender
    assert appender is not None and _pragma_synchronous(appender) == code
    with engine.connect() as conn:  # someone else lowering durability on a pooled connection
        conn.exec_driver_sql("PRAGMA synchronous=OFF")
    log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
    assert _pragma_synchronous(appender) == code
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_memory_databases_use_the_pool() -> None:
    eng = make_engine("sqlite://")
    try:
        assert sqlite_appender(eng, synchronous="FULL") is None
        log = AuditLog(eng)
        log.create_schema()
        log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
        assert log.verify().ok
    finally:
        eng.dispose()


def test_a_database_error_replaces_the_kept_connection(engine: Engine) -> None:
    log = AuditLog(engine)
    log.create_schema()
    log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
    appender = log._appender
    assert appender is not None
    first = appender._connection
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TRIGGER no_more BEFORE INSERT ON audit_events "
                             "BEGIN INSERT INTO gone VALUES (1); END")
    with pytest.raises(AuditError, match="could not append"):
        log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
    assert appender._connection is None
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER no_more")
    log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
    assert appender._connection is not None and appender._connection is not first
    report = log.verify()
    assert report.ok and report.checked == 2


def test_closed_appender_reopens(engine: Engine) -> None:
    log = AuditLog(engine)
    log.create_schema()
    log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
    assert log._appender is not None
    log._appender.close()
    log.append(AuditEvent("tr", None, "u", AuditKind.ANSWER, {}, "p"))
    assert log.verify().checked == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_appends_on_its_own_connection(engine: Engine) -> None:
    log = AuditLog(engine)
    log.create_schema()
    log.append(AuditEvent("tr", None, "parent", AuditKind.ANSWER, {}, "p"))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            assert log._appender is not None and log._appender._connection is None
            engine.dispose(close=False)  # SQLAlchemy's advice for pools inherited over a fork
            log.append(AuditEvent("tr", None, "child", AuditKind.ANSWER, {}, "p"))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.append(AuditEvent("tr", None, "parent", AuditKind.ANSWER, {}, "p"))
    assert [r.user_id for r in log.by_trace("tr")] == ["parent", "child", "parent"]
    assert log.verify().ok
