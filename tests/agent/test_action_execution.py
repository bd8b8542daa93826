"""Governed actions executing through the graph: autonomous runs in the tools step (recorded, replayed, never
twice), governed undo, and an action that cannot run reported instead of crashing."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from guardrails.audit.log import AuditKind
from guardrails.audit.trace import Trace
from guardrails.errors import AlreadyDecided
from tests.agent.action_cases import execute, ledger_rows, rows, snapshot
from tests.agent.approvals_helpers import HOLD, action_harness, relay, request_events
from tests.agent.graph_helpers import call, tool_results
from tools.plant.db import make_engine


def test_undo_is_governed_and_restores_the_previous_state(plant_file: Path, tmp_path: Path,
                                                          cases: dict[str, dict[str, Any]]) -> None:
    h, _ = action_harness(plant_file, tmp_path, call(HOLD, cases[HOLD], "c1"), relay)
    before = snapshot(h.plant)
    rid = h.copilot.ask("sam.supervisor", "Hold the lot.").approvals[0]["id"]
    h.decide(rid, "quinn.quality")
    h.copilot.resume(rid)
    held = snapshot(h.plant)

    for outsider in ("pat.planner", "ben.buyer", "qiu.quality"):
        refused = h.copilot.undo(rid, outsider)
        assert refused.status == "denied" and refused.rule_id == "approvals.undo_not_permitted"
    assert snapshot(h.plant) == held
    undone = h.copilot.undo(rid, "quinn.quality")  # an eligible approver (the requester may too)
    assert undone.ok and snapshot(h.plant) == before and h.store.get(rid).status.value == "compensated"
    again = h.copilot.undo(rid, "sam.supervisor")
    assert again.ok and snapshot(h.plant) == before
    assert len(request_events(h, AuditKind.ACTION_COMPENSATED, rid)) == 1 and h.audit.verify().ok


def test_autonomous_action_runs_in_the_tools_step_once(plant_file: Path, tmp_path: Path,
                                                       cases: dict[str, dict[str, Any]]) -> None:
    from tests.agent.graph_helpers import AUTONOMOUS_GRANT

    args = cases["request_po_date_change"]
    earlier = dict(args, new_promised_date=(date.fromisoformat(args["new_promised_date"]) - timedelta(days=1)
                                            ).isoformat())
    h, _ = action_harness(plant_file, tmp_path, call("request_po_date_change", args, "c1"), relay,
                          call("request_po_date_change", earlier, "c2"), relay, grant=AUTONOMOUS_GRANT)
    own = h.copilot.ask("bea.buyer", "Pull my line in by two days.")
    assert own.tool_calls[0]["decision"] == "allow" and not own.paused and own.approvals == []
    assert own.tool_calls[0]["rule_id"] == "enterprise.yaml#actions.request_po_date_change.autonomous_when[0]"
    assert "Outcome: executed" in own.answer
    line = rows(h.plant, "SELECT promised_date FROM po_lines WHERE po_id = :p AND line_no = :n",
                p=args["po_id"], n=args["line_no"])
    assert str(line[0]["promised_date"]) == args["new_promised_date"]
    [entry] = ledger_rows(h.plant)
    assert entry["idempotency_key"].startswith("request_po_date_change:AUT-")
    assert [e.kind for e in h.audit.by_trace(own.trace_id)].count(AuditKind.ACTION_EXECUTED) == 1
    # Not the PO's own buyer: a further 1-day pull-in needs a buyer's approval.
    other = h.copilot.ask("pat.planner", "Pull bea's line in by one more day.")
    assert other.paused and [g.eligible_user_ids for g in h.store.get(other.approvals[0]["id"]).groups] == [
        ("bea.buyer", "ben.buyer")]


def test_autonomous_execution_is_recorded_listed_and_undoable(plant_file: Path, tmp_path: Path,
                                                              cases: dict[str, dict[str, Any]]) -> None:
    from tests.agent.graph_helpers import AUTONOMOUS_GRANT

    args = cases["request_po_date_change"]
    h, model = action_harness(plant_file, tmp_path, call("request_po_date_change", args, "c1"), relay,
                              grant=AUTONOMOUS_GRANT)
    before = snapshot(h.plant)
    own = h.copilot.ask("bea.buyer", "Pull my line in by two days.")
    [entry] = ledger_rows(h.plant)
    rid = entry["request_id"]
    assert rid.startswith("AUT-") and snapshot(h.plant) != before

    # The record: executed, risk class autonomous, the autonomy rule, nobody to approve, bound to the call.
    record = h.store.get(rid)
    assert (record.status.value, record.risk_class, record.autonomous) == ("executed", "autonomous", True)
    assert record.rule_id == "enterprise.yaml#actions.request_po_date_change.autonomous_when[0]"
    assert record.groups == () and record.decisions == () and record.requester == "bea.buyer"
    assert record.thread_id == own.thread_id and record.trace_id == own.trace_id and dict(record.args) == args
    assert record.result is not None and record.result["request_id"] == rid
    # The model is told the id and how to undo it (the user hears it from the model).
    [told] = tool_results(model.calls[-1])
    assert told["request_id"] == rid and told["undo"] == f"jidoka approvals undo {rid} --as bea.buyer"
    bea = h.approvals.actions.policy.user("bea.buyer")
    assert rid in {r.id for r in h.store.list_for(bea)} and rid in {r.id for r in h.store.list_all()}
    with pytest.raises(AlreadyDecided):  # nothing to decide: it ran under the policy
        h.decide(rid, "ben.buyer", "reject")

    # Undo is governed as for approved requests: only the requester here (there are no approvers).
    for outsider in ("ben.buyer", "pat.planner"):
        refused = h.copilot.undo(rid, outsider)
        assert refused.status == "denied" and snapshot(h.plant) != before
    undone = h.copilot.undo(rid, "bea.buyer")
    assert undone.ok and snapshot(h.plant) == before and h.store.get(rid).status.value == "compensated"
    assert len(request_events(h, AuditKind.ACTION_COMPENSATED, rid)) == 1 and h.audit.verify().ok


def test_autonomous_rerun_replays_instead_of_executing_twice(plant_file: Path, tmp_path: Path,
                                                             cases: dict[str, dict[str, Any]]) -> None:
    # The tools step re-run for the same turn and call (as after a crash): one record, one execution.
    from guardrails.approvals.routing import Route
    from guardrails.approvals.service import Proposal
    from guardrails.audit.log import AuditBuffer
    from guardrails.gate import Effect
    from tests.agent.graph_helpers import AUTONOMOUS_GRANT

    h, _ = action_harness(plant_file, tmp_path, relay)
    args = cases["request_po_date_change"]
    bea = h.approvals.actions.policy.user("bea.buyer")
    trace = Trace(uuid.uuid4().hex, "th-auto", "bea.buyer", "test")
    buffer = AuditBuffer(h.audit)
    decision = h.approvals.actions.decide(bea, "request_po_date_change", args, model=AUTONOMOUS_GRANT,
                                          trace=trace, audit=buffer)
    assert decision.effect is Effect.ALLOW and decision.subject is not None
    route = Route(Effect.ALLOW, decision.rule_id, decision.reason, "request_po_date_change", "bea.buyer")
    proposal = Proposal("AUT-TEST00000001", "th-auto", trace.trace_id, "bea.buyer", "request_po_date_change",
                        decision.args, {"site_id": "P100"}, decision.snapshot, route)
    first = h.approvals.run_autonomous(proposal, trace=trace, audit=buffer)
    again = h.approvals.run_autonomous(proposal, trace=trace, audit=buffer)
    assert first.status == again.status == "executed" and again.view == first.view
    assert len(ledger_rows(h.plant)) == 1 and h.store.get("AUT-TEST00000001").version == 2


def test_an_action_that_cannot_run_is_reported_not_crashed(plant_file: Path, tmp_path: Path,
                                                           cases: dict[str, dict[str, Any]]) -> None:
    from tests.agent.graph_helpers import AUTONOMOUS_GRANT

    engine = make_engine(f"sqlite:///{plant_file}")
    execute(engine, "DROP TABLE action_executions")  # a plant from before actions existed
    engine.dispose()
    h, model = action_harness(plant_file, tmp_path,
                              call("request_po_date_change", cases["request_po_date_change"], "c1"), relay,
                              grant=AUTONOMOUS_GRANT)
    before = snapshot(h.plant)
    result = h.copilot.ask("bea.buyer", "Pull my line in by two days.")
    [outcome] = tool_results(model.calls[-1])
    assert outcome["status"] == "not_executed" and "action_executions" in outcome["reason"]
    assert "Outcome: not_executed" in result.answer and snapshot(h.plant) == before
    assert AuditKind.ERROR in [e.kind for e in h.audit.by_trace(result.trace_id)]
