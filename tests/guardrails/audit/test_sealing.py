"""Sealed audit fields: encrypted at rest under per-month/kind/site data keys, opened on read, chain intact."""

from __future__ import annotations

import base64
import json
import os

import pytest
from sqlalchemy import Engine, select, text, update

from guardrails.audit._store import audit_events
from guardrails.audit.chain import AuditEvent
from guardrails.audit.keys import AuditKeys, LocalKek, audit_keys
from guardrails.audit.log import AuditLog
from guardrails.audit.sealing import PURGED, SEALED_FIELDS, Sealer
from guardrails.errors import AuditError
from guardrails.policy.retention import _KINDS
from tests.guardrails.audit.audit_helpers import StepClock

KEK = LocalKek(bytes(range(32)))
SITES = {"pat.planner": "P100", "ana.planner": "P200"}


def _sealed_log(engine: Engine, kek: LocalKek = KEK) -> AuditLog:
    log = AuditLog(engine, clock=StepClock(), sealer=Sealer(AuditKeys(engine, kek), lambda u: SITES.get(u, "*")))
    log.create_schema()
    return log


def _stored(engine: Engine, seq: int) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(json.loads(conn.execute(select(audit_events.c.payload).where(audit_events.c.seq == seq))
                               .scalar_one()))


def event(kind: str, user_id: str, payload: dict[str, object]) -> AuditEvent:
    return AuditEvent(trace_id=os.urandom(8).hex(), thread_id="th-1", user_id=user_id, kind=kind,
                      payload=payload, policy_hash="p" * 64)


def _prompt(user: str = "pat.planner", words: str = "how much RM-3001 at $12.40 a kg?") -> AuditEvent:
    return event("prompt", user, {"text": words, "chars": len(words)})


def test_sealed_fields_are_ciphertext_at_rest_and_plain_on_read(engine: Engine) -> None:
    log = _sealed_log(engine)
    written = log.append(_prompt())
    assert written.payload["text"] == "how much RM-3001 at $12.40 a kg?"  # the caller gets what it wrote
    stored = _stored(engine, written.seq)
    envelope = stored["text"]
    assert isinstance(envelope, dict) and envelope["sealed"] == "aes-256-gcm"
    assert envelope["key"] == "2026-03/prompt/P100" and stored["chars"] == 32  # other fields stay in clear
    assert "RM-3001" not in json.dumps(stored) and "12.40" not in json.dumps(stored)
    assert log.by_trace(written.trace_id)[0].payload["text"] == written.payload["text"]
    assert log.tail(1)[0].payload == written.payload
    assert next(log.export()).payload == written.payload
    assert next(log.export(opened=False)).payload == stored  # as stored: its hash can be recomputed
    assert log.verify().ok and log.verify(thorough=True).ok


def test_every_sealed_kind_is_one_retention_can_expire() -> None:
    assert set(SEALED_FIELDS) == set(_KINDS)


def test_one_key_per_month_kind_and_site(engine: Engine) -> None:
    log = _sealed_log(engine)
    log.append(_prompt())
    log.append(_prompt("ana.planner"))
    log.append(_prompt("eve.exec"))  # several sites: the every-site key
    log.append(event("answer", "pat.planner", {"text": "42 kg"}))
    log.append(event("gate_decision", "pat.planner", {"tool": "x", "effect": "allow"}))
    keys = [row.key_id for row in AuditKeys(engine, None).rows()]
    assert keys == ["2026-03/answer/P100", "2026-03/prompt/*", "2026-03/prompt/P100", "2026-03/prompt/P200"]
    assert [r.payload.get("text") for r in log.tail(5)][:4] == ["how much RM-3001 at $12.40 a kg?"] * 3 + ["42 kg"]


def test_a_ciphertext_moved_to_another_event_or_altered_does_not_open(engine: Engine) -> None:
    log = _sealed_log(engine)
    first = log.append(_prompt(words="first question"))
    second = log.append(_prompt(words="second question"))
    moved = {**_stored(engine, second.seq), "text": _stored(engine, first.seq)["text"]}
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == second.seq)
                     .values(payload=json.dumps(moved, sort_keys=True, separators=(",", ":"))))
    assert "failed its integrity check" in log.by_trace(second.trace_id)[-1].payload["text"]
    assert not log.verify().ok  # and the chain names the edit


def test_the_wrong_key_encryption_key_is_a_clear_error(engine: Engine) -> None:
    written = _sealed_log(engine).append(_prompt())
    other = _sealed_log(engine, LocalKek(os.urandom(32)))
    with pytest.raises(AuditError, match="cannot be unwrapped with this key-encryption key"):
        other.by_trace(written.trace_id)


def test_processes_share_one_key_and_see_a_destroyed_key_at_once(engine: Engine) -> None:
    one, two = _sealed_log(engine), _sealed_log(engine)
    a = one.append(_prompt(words="from one"))
    b = two.append(_prompt(words="from two"))
    with engine.connect() as conn:
        assert conn.execute(select(text("count(*)")).select_from(audit_keys)).scalar_one() == 1
    assert two.by_trace(a.trace_id)[0].payload["text"] == "from one"
    assert one.by_trace(b.trace_id)[0].payload["text"] == "from two"
    assert AuditKeys(engine, None).destroy("2026-03/prompt/P100", at="now", by="test", first_seq=a.seq,
                                           last_seq=b.seq, events=2)
    # `one` sealed under that key (it is cached there for writing) and still reads it as destroyed.
    assert one.by_trace(a.trace_id)[0].payload["text"] == PURGED.format(key="2026-03/prompt/P100")
    assert one.verify().ok


@pytest.mark.parametrize("text_value", ["", "   ", "nope", base64.b64encode(b"short").decode()])
def test_a_kek_that_is_not_32_bytes_of_base64_is_refused(text_value: str) -> None:
    with pytest.raises(AuditError, match="JIDOKA_AUDIT_KEK must hold 32 random bytes"):
        LocalKek.parse(text_value, source="JIDOKA_AUDIT_KEK")
