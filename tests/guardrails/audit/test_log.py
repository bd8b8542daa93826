"""The audit log's chain basics: linking from genesis, stored rows, export, refused events, canonical JSON,
the hash formula, Postgres statements and a missing schema."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from guardrails.audit._store import WritePlan, audit_events, audit_head
from guardrails.audit.log import GENESIS_HASH, AuditEvent, AuditKind, AuditLog, canonical_json, format_ts
from guardrails.errors import AuditError, AuditEventInvalid, AuditSchemaMissing
from tests.guardrails.audit.audit_helpers import T0, event, independent_hash

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



def test_a_new_kind_extends_an_old_chain_and_reads_can_be_left_out_of_the_tail(log: AuditLog, engine: Engine) -> None:
    """``audit_read`` (issue 16, finding 5) is hashed as its text like every kind: a chain written before the kind
    existed verifies with read events after it, and so does a stored kind this version does not know."""
    old = log.append_many([event(1, kind=AuditKind.PROMPT), event(2, kind=AuditKind.ANSWER)])
    digest = independent_hash(old[0].hash, {**old[1].to_json_dict(), "kind": "retired_kind"})
    with engine.begin() as conn:  # a kind of another version, hashed by the spec formula alone
        conn.execute(audit_events.update().where(audit_events.c.seq == 2).values(kind="retired_kind", hash=digest))
        conn.execute(audit_head.update().values(last_hash=digest))
    read = log.append(AuditEvent("tr-read", None, "ada.auditor", AuditKind.AUDIT_READ, {"read": "tail"}, "p"))
    assert read.prev_hash == digest and read.hash == independent_hash(digest, read.to_json_dict())
    assert log.verify().ok and log.verify().checked == 3
    assert [r.seq for r in log.tail(2)] == [2, 3]
    assert [r.seq for r in log.tail(2, without=(AuditKind.AUDIT_READ,))] == [1, 2]

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
    ident = text.replace("\x00", "") or "x"  # the payload keeps its NUL (escaped in JSON); identifiers refuse it
    record = log.append(AuditEvent(f"tr {ident}", ident, f"u {ident}", AuditKind.PROMPT, {text: text}, ident))
    assert record.hash == independent_hash(GENESIS_HASH, record.to_json_dict())
    assert log.verify().ok


def test_identifiers_with_a_nul_character_are_refused_on_every_backend(log: AuditLog) -> None:
    with pytest.raises(AuditEventInvalid, match=r"trace_id.*NUL"):
        log.append(AuditEvent("t\x00", None, "u", AuditKind.PROMPT, {"q": "x"}, "p"))
    assert log.head().seq == 0


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
