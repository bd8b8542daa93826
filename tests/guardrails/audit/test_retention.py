"""A real retention run: months of sealed events, keys destroyed by the rules, the chain verified before and after."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine

from guardrails.audit.chain import AuditEvent, AuditKind
from guardrails.audit.keys import AuditKeys, LocalKek
from guardrails.audit.log import AuditLog
from guardrails.audit.retention import purge
from guardrails.audit.sealing import PURGED, Sealer
from guardrails.policy.retention import RetentionRules
from tests.guardrails.audit.audit_helpers import StepClock

SITES = {"pat.planner": "P100", "ana.planner": "P200"}
RULES = RetentionRules(days={"prompt": 60, "answer": 60, "model_request": 30},
                       by_site={"P200": {"prompt": 31}},
                       decided_in={("prompt", "*"): "enterprise.yaml", ("answer", "*"): "enterprise.yaml",
                                   ("model_request", "*"): "enterprise.yaml", ("prompt", "P200"): "plants/P200.yaml"})


def _turns(engine: Engine) -> tuple[AuditLog, dict[str, list[int]]]:
    """January, February and March 2026: each month a P100 and a P200 turn (prompt, gate decision, answer)."""
    clock = StepClock(datetime(2026, 1, 15, tzinfo=UTC))
    log = AuditLog(engine, clock=clock,
                   sealer=Sealer(AuditKeys(engine, LocalKek(bytes(32))), lambda u: SITES.get(u, "*")))
    log.create_schema()
    seqs: dict[str, list[int]] = {}
    for month in (1, 2, 3):
        clock.now = datetime(2026, month, 15, tzinfo=UTC)
        for user in ("pat.planner", "ana.planner"):
            trace = f"t-{month}-{user}"
            for kind, payload in (("prompt", {"text": f"question {month} {user}"}),
                                  ("gate_decision", {"tool": "inventory_lookup", "effect": "allow"}),
                                  ("answer", {"text": f"answer {month} {user}"})):
                record = log.append(AuditEvent(trace_id=trace, thread_id="th", user_id=user, kind=AuditKind(kind),
                                               payload=payload, policy_hash="p" * 64))
                seqs.setdefault(f"2026-0{month}/{kind}/{SITES[user]}", []).append(record.seq)
    return log, seqs


def _keys(report_keys: object) -> list[str]:
    return sorted(k.key_id for k in report_keys)  # type: ignore[attr-defined]


def test_purge_destroys_exactly_the_expired_months_and_the_chain_still_verifies(engine: Engine) -> None:
    log, seqs = _turns(engine)
    keys = log.sealer.keys  # type: ignore[union-attr]
    assert log.verify().ok
    # As of 2026-04-05: P200 prompts keep 31 days (Jan, Feb ended >31 days ago: Feb ended 03-01, 35 days) ->
    # Jan + Feb; P100 prompts and all answers keep 60 days -> only January (ended 02-01, 63 days ago).
    report = purge(log, keys, RULES, today=date(2026, 4, 5), by="test", policy_hash="p" * 64, trace_id="purge-1")
    assert _keys(report.destroyed) == ["2026-01/answer/P100", "2026-01/answer/P200", "2026-01/prompt/P100",
                                       "2026-01/prompt/P200", "2026-02/prompt/P200"]
    by_id = {k.key_id: k for k in report.destroyed}
    assert (by_id["2026-02/prompt/P200"].first_seq, by_id["2026-02/prompt/P200"].events) == (
        seqs["2026-02/prompt/P200"][0], 1)
    assert by_id["2026-02/prompt/P200"].rule_file == "plants/P200.yaml"
    assert report.kept == 7 and report.trace_id == "purge-1"

    after = log.verify()
    assert after.ok and after.checked == 19  # 18 events + the audit_purged record
    texts = {r.trace_id: r.payload["text"] for r in log.export() if r.kind == "prompt"}
    assert texts["t-1-pat.planner"] == PURGED.format(key="2026-01/prompt/P100")
    assert texts["t-2-ana.planner"] == PURGED.format(key="2026-02/prompt/P200")
    assert texts["t-2-pat.planner"] == "question 2 pat.planner"  # P100 keeps February (60 days)
    recorded = log.by_trace("purge-1")
    assert [r.kind for r in recorded] == ["audit_purged"]
    assert {d["key_id"] for d in recorded[0].payload["destroyed"]} == set(by_id)
    assert [r.key_id for r in keys.destroyed()] == sorted(by_id, key=lambda k: (k[:7], k))


def test_before_only_narrows_dry_runs_change_nothing_and_a_second_run_is_empty(engine: Engine) -> None:
    log, _ = _turns(engine)
    keys = log.sealer.keys  # type: ignore[union-attr]
    common = {"by": "test", "policy_hash": "p" * 64, "trace_id": "purge-x"}
    dry = purge(log, keys, RULES, today=date(2027, 1, 1), dry_run=True, **common)  # type: ignore[arg-type]
    assert len(dry.destroyed) == 12 and dry.trace_id is None and keys.destroyed() == []
    narrowed = purge(log, keys, RULES, today=date(2027, 1, 1), before=date(2026, 2, 1), **common)  # type: ignore[arg-type]
    assert {k.month for k in narrowed.destroyed} == {"2026-01"}
    rest = purge(log, keys, RULES, today=date(2027, 1, 1), **common)  # type: ignore[arg-type]
    assert {k.month for k in rest.destroyed} == {"2026-02", "2026-03"}
    again = purge(log, keys, RULES, today=date(2027, 1, 1), **common)  # type: ignore[arg-type]
    assert again.destroyed == () and again.trace_id is None
    assert log.verify().ok and log.verify(thorough=True).ok


def test_a_kind_without_a_rule_is_kept(engine: Engine) -> None:
    log, _ = _turns(engine)
    report = purge(log, log.sealer.keys, RetentionRules(), today=date(2030, 1, 1),  # type: ignore[union-attr]
                   by="test", policy_hash="", trace_id="t")
    assert report.destroyed == () and report.kept == 12


@pytest.mark.parametrize("month, end", [("2026-02", date(2026, 3, 1)), ("2026-12", date(2027, 1, 1))])
def test_a_month_expires_only_once_its_last_day_is_past_the_rule(month: str, end: date) -> None:
    from guardrails.audit.retention import _month_bounds

    assert _month_bounds(month)[1] == end
