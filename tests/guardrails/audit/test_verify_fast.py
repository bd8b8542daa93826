"""The fast verify walk (stored text hashed as it is) gives the same report as the reference walk, which parses and
re-encodes every payload (``thorough=True``): on untouched logs, on every tamper kind, with and without an anchor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from guardrails.audit._pages import iter_pages
from guardrails.audit._store import audit_events, audit_head, read_transaction
from guardrails.audit.chain import AuditEvent, AuditKind
from guardrails.audit.log import AuditLog, ChainProblem
from guardrails.audit.verify import ChainChecker
from tests.guardrails.audit.audit_helpers import event, independent_hash
from tests.guardrails.audit.test_anchor import anchored, truncate_and_move_head
from tests.guardrails.audit.test_log_tamper import TAMPERS

AWKWARD = ['quote " backslash \\ slash /', "tab\tnewline\n\x1f", "\u2028\u2029 😀 é", "Müller", "x"]


@pytest.mark.parametrize("name", list(TAMPERS))
@pytest.mark.parametrize("chunk_size", [2, 10000])
def test_fast_and_reference_walks_give_the_same_report(log: AuditLog, engine: Engine, name: str,
                                                       chunk_size: int) -> None:
    tamper, bad_seq, problem, _ = TAMPERS[name]
    log.append_many([event(i, trace=f"tr-{i}") for i in range(1, 7)])
    tamper(engine)
    fast = log.verify(chunk_size=chunk_size)
    assert fast == log.verify(chunk_size=chunk_size, thorough=True)
    assert (fast.first_bad_seq, fast.problem) == (bad_seq, problem)  # and it is the expected one, not just equal


def _awkward_events() -> list[AuditEvent]:
    events = []
    for i, text in enumerate(AWKWARD):
        events.append(AuditEvent(trace_id=f"tr {text}", thread_id=None if i % 2 else text, user_id=text,
                                 kind=AuditKind.ANSWER, payload={text: [text, i, 1.5, None, {"ñ": True}]},
                                 policy_hash=text))
    return events


def test_every_row_the_log_writes_passes_the_fast_check(log: AuditLog, engine: Engine) -> None:
    """The fast text is the canonical text: no honest row (escapes, non-ASCII, null thread) falls back."""
    log.append_many(_awkward_events())
    log.append_many([event(i) for i in range(20)])
    with read_transaction(engine) as conn:
        pages = list(iter_pages(conn, page_size=7))
    checker = ChainChecker()
    for page in pages:
        assert checker.feed_page(page, 0) == len(page)
    assert checker.checked == 25 and not checker.failed
    assert log.verify() == log.verify(thorough=True) and log.verify().ok


def test_a_row_the_fast_check_refuses_is_checked_in_full(log: AuditLog, engine: Engine) -> None:
    log.append_many([event(i) for i in range(1, 7)])
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 4).values(payload='{"i": 4}'))
    with read_transaction(engine) as conn:
        (page,) = list(iter_pages(conn, page_size=100))
    checker = ChainChecker()
    assert checker.feed_page(page, 0) == 3  # seq 1..3 accepted, seq 4 left to feed()
    assert checker.checked == 3
    assert checker.feed_page(page, 3, watched={4}) == 3  # nor does it pass a watched seq


def _rehash_from(seq: int, **values: Any) -> Callable[[Engine], None]:
    """Rewrite the row at ``seq`` (``values``) and re-chain every later row and the head: only an anchor sees it."""
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            rows = [dict(r) for r in conn.execute(select(audit_events).where(audit_events.c.seq >= seq)
                                                  .order_by(audit_events.c.seq)).mappings()]
            prev = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == seq - 1)).scalar_one()
            rows[0].update(values)
            for row in rows:
                body = {**row, "payload": json.loads(row["payload"])}
                row["prev_hash"], row["hash"] = prev, independent_hash(prev, body)
                conn.execute(update(audit_events).where(audit_events.c.seq == row["seq"]).values(**row))
                prev = row["hash"]
            conn.execute(update(audit_head).values(last_hash=prev))
    return run


ANCHORED: dict[str, tuple[Callable[[Engine], None], ChainProblem | None]] = {
    "untouched": (lambda engine: None, None),
    "edit a row": (TAMPERS["edit user_id"][0], ChainProblem.EDITED),
    "truncate, head moved back": (lambda engine: truncate_and_move_head(engine, 7),
                                  ChainProblem.TRUNCATED_BEFORE_CHECKPOINT),
    "rewrite and re-chain the tail": (_rehash_from(4, user_id="mallory"), ChainProblem.CHECKPOINT_MISMATCH),
    "re-chain after the last checkpoint": (_rehash_from(11, user_id="mallory"), None),
}


@pytest.mark.parametrize("name", list(ANCHORED))
@pytest.mark.parametrize("chunk_size", [3, 10000])
def test_fast_and_reference_walks_agree_against_an_anchor(engine: Engine, tmp_path: Path, name: str,
                                                          chunk_size: int) -> None:
    tamper, problem = ANCHORED[name]
    log = anchored(engine, tmp_path / "anchors.jsonl", every=5)
    for first, last in ((1, 5), (6, 10), (11, 12)):  # checkpoints at seq 5 and 10: those appends end on a multiple
        log.append_many([event(i) for i in range(first, last + 1)])
    tamper(engine)
    fast = log.verify(chunk_size=chunk_size)
    assert fast == log.verify(chunk_size=chunk_size, thorough=True)
    assert fast.problem == problem
    assert fast.anchor is not None and fast.anchor.checkpoints == 2


def test_a_rehashed_non_canonical_payload_fails_both_walks(log: AuditLog, engine: Engine) -> None:
    """The one difference: a payload rewritten to other bytes of the same JSON under a re-computed hash is
    named at its own row by the reference walk, at the next link by the fast one. Both fail."""
    log.append_many([event(i) for i in range(1, 7)])
    with engine.begin() as conn:
        row = dict(conn.execute(select(audit_events).where(audit_events.c.seq == 3)).mappings().one())
        text = '{"i": 3}'  # same JSON, not canonical
        body = {k: row[k] for k in ("seq", "ts", "trace_id", "thread_id", "user_id", "kind", "policy_hash")}
        canonical = json.dumps(body | {"payload": "@"}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        forged = hashlib.sha256((row["prev_hash"] + canonical.replace('"@"', text)).encode()).hexdigest()
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(payload=text, hash=forged))
    fast, reference = log.verify(), log.verify(thorough=True)
    assert (reference.ok, reference.first_bad_seq, reference.problem) == (False, 3, ChainProblem.EDITED)
    assert (fast.ok, fast.first_bad_seq, fast.problem) == (False, 4, ChainProblem.RELINKED)
