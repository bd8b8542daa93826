"""The gate runs inside the tools step: every call of a reply is decided and audited first, in call order, then the
allowed calls run — the same events, rule ids and order as the separate gate step before it gave (the expected
sequences below are what that graph recorded for these turns), and one super-step less per tool round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from sqlalchemy import Engine

from agent.scripted import ScriptedChatModel
from guardrails.audit.log import AuditKind, AuditLog
from tests.agent.approvals_helpers import HOLD, action_harness, relay
from tests.agent.graph_helpers import build_copilot, calls

_INV = ("inventory_lookup", {"item_id": "RM-3001", "limit": 3})
_INV_P200 = ("inventory_lookup", {"item_id": "RM-3001", "site_id": "P200", "limit": 3})
_WO = ("work_orders", {"line_id": "P100-PK1", "limit": 3})


def _trail(audit: AuditLog, trace_id: str) -> list[tuple[Any, ...]]:
    """The turn's audit events with what identifies a governance decision (ids and timestamps left out)."""
    return [(e.kind, e.payload.get("tool") or e.payload.get("action"), e.payload.get("effect"),
             e.payload.get("rule_id"), e.payload.get("record_count"), e.payload.get("status"))
            for e in audit.by_trace(trace_id)]


def test_several_reads_and_a_refused_one_are_all_decided_before_any_runs(demo_plant: Engine, tmp_path: Path) -> None:
    model = ScriptedChatModel(script=[
        calls((*_INV, "c1"), (*_INV_P200, "c2"), (*_WO, "c3")), AIMessage(content="Done."),
    ])
    copilot, audit = build_copilot(demo_plant, tmp_path, model)
    result = copilot.ask("sam.supervisor", "Stock of RM-3001 here and at P200, and the PK1 work orders?")

    assert [(c["name"], c["decision"], c["rule_id"]) for c in result.tool_calls] == [
        ("inventory_lookup", "allow", "enterprise.yaml#roles.production_supervisor.domains"),
        ("inventory_lookup", "deny", "gate.scope.site"),
        ("work_orders", "allow", "enterprise.yaml#roles.production_supervisor.domains"),
    ]
    gate = "gate_decision"
    assert _trail(audit, result.trace_id) == [
        ("prompt", None, None, None, None, None),
        ("screening", None, None, None, None, None),
        ("model_request", None, None, None, None, None),
        ("model_response", None, None, None, None, None),
        (gate, "inventory_lookup", "allow", "enterprise.yaml#roles.production_supervisor.domains", None, None),
        (gate, "inventory_lookup", "deny", "gate.scope.site", None, None),
        (gate, "work_orders", "allow", "enterprise.yaml#roles.production_supervisor.domains", None, None),
        ("tool_result", "inventory_lookup", None, None, 3, "ok"),
        ("tool_result", "work_orders", None, None, 4, "ok"),
        ("model_request", None, None, None, None, None),
        ("model_response", None, None, None, None, None),
        ("answer", None, None, None, None, None),
    ]
    # The model got a result for every call, the refusal in its place.
    sent = [m for m in model.calls[1] if m.type == "tool"]
    assert [m.tool_call_id for m in sent] == ["c1", "c2", "c3"] and '"status": "denied"' in str(sent[1].content)
    assert audit.verify().ok


def test_an_action_and_reads_in_one_reply_pause_after_the_reads_ran(plant_file: Path, tmp_path: Path,
                                                                    cases: dict[str, dict[str, Any]]) -> None:
    h, _ = action_harness(plant_file, tmp_path, calls((HOLD, cases[HOLD], "c1"), (*_INV, "c2")), relay)
    paused = h.copilot.ask("sam.supervisor", "Hold the suspect lot, and how much RM-3001 is there?")
    assert paused.paused
    kinds = [e.kind for e in h.audit.by_trace(paused.trace_id)]
    assert kinds == [AuditKind.PROMPT, AuditKind.SCREENING, AuditKind.MODEL_REQUEST, AuditKind.MODEL_RESPONSE,
                     AuditKind.GATE_DECISION, AuditKind.GATE_DECISION, AuditKind.TOOL_RESULT,
                     AuditKind.APPROVAL_REQUESTED, AuditKind.ANSWER]
    rid = paused.approvals[0]["id"]
    h.decide(rid, "quinn.quality")
    done = h.copilot.resume(rid)
    assert not done.paused and "executed" in done.answer and "ok" in done.answer
    assert h.audit.verify().ok


def test_a_tool_round_is_one_super_step(demo_plant: Engine, tmp_path: Path) -> None:
    model = ScriptedChatModel(script=[calls((*_INV, "c1")), AIMessage(content="Done.")])
    copilot, _ = build_copilot(demo_plant, tmp_path, model)
    steps = [next(iter(chunk)) for chunk in copilot.graph.stream(
        {"messages": [], "user_id": "sam.supervisor", "trace_id": "t" * 32, "question_id": "q-1", "question": "x",
         "tool_calls": [], "model_steps": 0, "invalid_rounds": 0, "degraded": False, "degraded_reason": "",
         "unavailable": [], "answer": "", "citations": [], "unverified": [], "input_verdict": "allow",
         "action_plans": [], "approvals": [], "approval_rounds": 0},
        config={"configurable": {"thread_id": "th-steps", "audit": _Sink()}}, stream_mode="updates")]
    assert steps == ["screen_input", "model", "tools", "model", "screen_output", "answer"]


class _Sink:
    def add(self, event: object) -> None:
        """Events are not checked here."""
