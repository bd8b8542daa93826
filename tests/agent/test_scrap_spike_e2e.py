"""The seed's scenario end to end: scrap spike on P100-PK1 → cause found → hold approved → supplier review → undo.

The copilot is our scripted model, but every decision it takes is computed from the tool results it is
given (never from the manifest): the suspect lot is the input lot where scrap concentrates most beyond the
volume it ran (scrap_analysis's ``excess_share``), the cause is the parameter drifting out of tolerance, and
the follow-up review is proposed when the lot's scrap rate exceeds its baseline by more than the policy's
``scrap_variance_limit`` (``actions.open_supplier_review.triggers``), which the model reads from the
description of the ``open_supplier_review`` action it is offered, as an LLM would. The manifest is only
used to check that the data led it to the planted answer.

Roles: ``sam.supervisor`` (production supervisor, P100) asks and is the requester; ``quinn.quality``
(quality engineer, P100) approves. Routing allows it: a hold needs a quality engineer or production
supervisor of P100 other than the requester (only quinn), a supplier review a quality engineer or buyer
of P100 (bea, ben or quinn). The reverse (quinn requests, sam approves) would route just as well.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.language_models.base import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr
from typer.testing import CliRunner

from agent.scripted import ScriptedChatModel
from guardrails.approvals.routing import ApprovalRouter
from guardrails.audit.log import AuditKind
from guardrails.errors import PolicyLoosening
from guardrails.policy.loader import default_policy_dir, load_policy
from guardrails.policy.triggers import read_trigger_note
from server.cli import build_app
from tests.agent.action_cases import ledger_rows, rows, snapshot
from tests.agent.graph_helpers import build_action_copilot, calls, copy_plant, tool_results


class OfferedToolsModel(ScriptedChatModel):
    """The scripted model, keeping the tool schemas it was last offered (the policy's triggers ride on them)."""

    _offered: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        self._offered = [dict(t) for t in tools if isinstance(t, dict)]
        return super().bind_tools(tools, **kwargs)

    def description(self, name: str) -> str:
        return next((str(t["function"].get("description", "")) for t in self._offered
                     if t.get("function", {}).get("name") == name), "")


class Investigator:
    """The scripted copilot's reasoning, from the tool results only."""

    def __init__(self, line_id: str, site_id: str) -> None:
        self.line_id, self.site_id = line_id, site_id
        self.found: dict[str, Any] = {}
        self.model: OfferedToolsModel | None = None

    def review_limit(self) -> float | None:
        """The policy's scrap-variance limit for the line's site, as offered with open_supplier_review."""
        assert self.model is not None
        limits = read_trigger_note(self.model.description("open_supplier_review"))
        return limits.get("scrap_variance_limit", {}).get(self.site_id)

    def investigate(self, messages: list[BaseMessage]) -> AIMessage:
        return calls(("scrap_analysis", {"line_id": self.line_id, "days": 10}, "c-scrap"),
                     ("machine_parameter_drift", {"line_id": self.line_id, "days": 10}, "c-drift"))

    def propose_hold(self, messages: list[BaseMessage]) -> AIMessage:
        results = tool_results(messages)
        scrap = next(r for r in results if "by_input_lot" in r)
        drift = next(r for r in results if "parameters" in r)
        # The tool's ranking key: where scrap concentrates beyond the volume the lot ran.
        lot = max(scrap["by_input_lot"], key=lambda r: r["excess_share"])
        cause = next(p for p in drift["parameters"] if p["drifting_away"] and p["latest_out_of_tolerance"])
        self.found.update(lot=lot, cause=cause, as_of=scrap["as_of"])
        reason = (f"Scrap spike on {self.line_id}: lot {lot['lot_id']} runs at {lot['scrap_rate']} scrap vs "
                  f"{lot['baseline_scrap_rate']} baseline; {cause['parameter']} drifting on {cause['machine_id']}")
        return calls(("place_quality_hold", {"lot_id": lot["lot_id"], "include_open_work_orders": True,
                                             "reason": reason}, "c-hold"))

    def follow_up(self, messages: list[BaseMessage]) -> AIMessage:
        hold = next(r for r in tool_results(messages) if r.get("action") == "place_quality_hold")
        assert hold["status"] == "executed", hold
        self.found["hold"] = hold
        lot = self.found["lot"]
        excess = lot["scrap_rate"] - lot["baseline_scrap_rate"]
        limit = self.review_limit()
        self.found.update(excess=excess, limit=limit)
        if limit is None or excess <= limit:
            return self.answer(messages)
        return calls(("open_supplier_review", {
            "supplier_id": lot["supplier_id"], "lot_ids": [lot["lot_id"]],
            "reason": f"Lot {lot['lot_id']} scrap rate {lot['scrap_rate']} exceeds its baseline "
                      f"{lot['baseline_scrap_rate']} by more than the policy limit {limit}"}, "c-review"))

    def answer(self, messages: list[BaseMessage]) -> AIMessage:
        lot, cause, hold = self.found["lot"], self.found["cause"], self.found["hold"]
        review = next((r for r in tool_results(messages) if r.get("action") == "open_supplier_review"), None)
        wos = [i for i in hold["record_ids"] if i.startswith("WO-")]
        text = (f"Scrap on {self.line_id} [{self.line_id}] comes from lot {lot['lot_id']}: "
                f"{lot['scrap_rate'] * 100:.1f}% scrap against a {lot['baseline_scrap_rate'] * 100:.1f}% baseline "
                f"[{lot['lot_id']}], while {cause['parameter']} on {cause['machine_id']} reads "
                f"{cause['latest_value']} against a {cause['target']} target [{cause['machine_id']}]. "
                f"The lot is on quality hold with work orders {', '.join(wos)} [{lot['lot_id']}]")
        if review is not None:
            review_id = next(i for i in review["record_ids"] if i.startswith("SR-"))
            text += f"; supplier review {review_id} is open for {lot['supplier_id']} [{review_id}]"
        return AIMessage(content=f"{text}. Data as of {self.found['as_of'][:10]} {self.found['as_of'][11:16]}.")


def test_scrap_spike_end_to_end(demo_home: Path, demo_manifest: dict[str, Any], tmp_path: Path) -> None:
    spike = demo_manifest["scenarios"]["scrap_spike"]
    plant_file = copy_plant(demo_home, tmp_path)
    bot = Investigator(spike["line_id"], spike["site_id"])
    model = bot.model = OfferedToolsModel(script=[bot.investigate, bot.propose_hold, bot.follow_up, bot.answer])
    h = build_action_copilot(plant_file, tmp_path, model)
    before = snapshot(h.plant)
    wo_before = {r["wo_id"]: r["status"] for r in rows(h.plant, "SELECT wo_id, status FROM work_orders")}

    # 1. The question; the copilot correlates and proposes the hold; the thread pauses for approval.
    first = h.copilot.ask("sam.supervisor", f"Scrap is up on {spike['line_id']}. Why, and what should we do?")
    assert bot.found["lot"]["lot_id"] == spike["lot_id"] and bot.found["lot"]["supplier_id"] == spike["supplier_id"]
    assert (bot.found["cause"]["parameter"], bot.found["cause"]["machine_id"]) == (spike["parameter"],
                                                                                  spike["machine_id"])
    assert first.paused and [a["action"] for a in first.approvals] == ["place_quality_hold"]
    assert "quinn.quality" in first.answer and snapshot(h.plant) == before
    hold_id = first.approvals[0]["id"]

    # 2. quinn approves → the hold executes → the variance is over the limit → a supplier review is proposed.
    h.decide(hold_id, "quinn.quality", "approve", "SEAL_FAIL scrap confirmed on the line")
    second = h.copilot.resume(hold_id)
    assert bot.found["limit"] == 0.05 and bot.found["excess"] > bot.found["limit"]  # the shipped policy's limit
    assert second.paused and {a["action"]: a["status"] for a in second.approvals} == {
        "place_quality_hold": "executed", "open_supplier_review": "pending"}
    review_id = next(a["id"] for a in second.approvals if a["action"] == "open_supplier_review")
    assert rows(h.plant, "SELECT status FROM lots WHERE lot_id = :l", l=spike["lot_id"]) == [{"status": "quality_hold"}]
    inventory = rows(h.plant, "SELECT stock_status, qty_on_hand FROM inventory WHERE lot_id = :l", l=spike["lot_id"])
    assert inventory and all(r["stock_status"] == "quality_inspection" for r in inventory if r["qty_on_hand"] > 0)
    opened = {w for w in spike["work_order_ids"] if wo_before[w] in ("planned", "released", "running")}
    assert opened, "the scenario has open work orders on the lot"
    wo_after = {r["wo_id"]: r["status"] for r in rows(h.plant, "SELECT wo_id, status FROM work_orders")}
    assert {w for w, s in wo_after.items() if s != wo_before[w]} == opened
    assert all(wo_after[w] == "held" for w in opened)

    # 3. quinn approves the review → it opens → the copilot answers, grounded and cited.
    h.decide(review_id, "quinn.quality", "approve", "supplier S-001 to be reviewed")
    final = h.copilot.resume(review_id)
    [review] = rows(h.plant, "SELECT * FROM supplier_reviews")
    assert (review["supplier_id"], review["status"], review["request_id"]) == (spike["supplier_id"], "open", review_id)
    assert spike["lot_id"] in review["lot_ids"]
    assert not final.paused and final.unverified == [] and review["review_id"] in final.answer
    assert {spike["lot_id"], spike["machine_id"], review["review_id"]} <= set(final.citations)
    assert "Data as of 2026-03-02 06:00" in final.answer
    assert {a["status"] for a in final.approvals} == {"executed"} and len(ledger_rows(h.plant)) == 2

    # 4. Every step is in the audit chain, and `jidoka audit verify` passes.
    kinds = [e.kind for e in h.audit.by_trace(first.trace_id)]
    for kind, count in ((AuditKind.GATE_DECISION, 4), (AuditKind.TOOL_RESULT, 2), (AuditKind.APPROVAL_REQUESTED, 2),
                        (AuditKind.APPROVAL_DECIDED, 2), (AuditKind.ACTION_EXECUTED, 2), (AuditKind.ANSWER, 3)):
        assert kinds.count(kind) == count, (kind, kinds)
    executed = [e.payload for e in h.audit.by_trace(first.trace_id) if e.kind == AuditKind.ACTION_EXECUTED]
    assert {r for p in executed for r in p["record_ids"]} >= {spike["lot_id"], review["review_id"], *opened}
    verify = CliRunner().invoke(build_app(), ["audit", "verify", "--json"], env={"JIDOKA_HOME": str(tmp_path)})
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["ok"] is True

    # 5. Undo (the approver for the review, the requester for the hold) restores the previous state exactly.
    assert h.copilot.undo(review_id, "quinn.quality").ok
    assert h.copilot.undo(hold_id, "sam.supervisor").ok
    assert snapshot(h.plant) == before
    assert [e.kind for e in h.audit.export()].count(AuditKind.ACTION_COMPENSATED) == 2 and h.audit.verify().ok


def _policy_with_limit(tmp_path: Path, enterprise: float, p100: float | None = None) -> Path:
    """A copy of the shipped policy with the scrap-variance limit set (and optionally a P100 override)."""
    folder = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), folder)
    path = folder / "enterprise.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("scrap_variance_limit: 0.05") == 1
    path.write_text(text.replace("scrap_variance_limit: 0.05", f"scrap_variance_limit: {enterprise}"),
                    encoding="utf-8")
    if p100 is not None:
        plant = folder / "plants" / "P100.yaml"
        doc = yaml.safe_load(plant.read_text(encoding="utf-8"))
        doc["actions"] = {"open_supplier_review": {"triggers": {"scrap_variance_limit": p100}}}
        plant.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return folder


def _run_to_hold(demo_home: Path, demo_manifest: dict[str, Any], tmp_path: Path, policy_dir: Path
                 ) -> tuple[Investigator, Any, Any]:
    spike = demo_manifest["scenarios"]["scrap_spike"]
    bot = Investigator(spike["line_id"], spike["site_id"])
    model = bot.model = OfferedToolsModel(script=[bot.investigate, bot.propose_hold, bot.follow_up, bot.answer])
    h = build_action_copilot(copy_plant(demo_home, tmp_path), tmp_path, model, policy=load_policy(policy_dir))
    first = h.copilot.ask("sam.supervisor", f"Scrap is up on {spike['line_id']}. Why, and what should we do?")
    h.decide(first.approvals[0]["id"], "quinn.quality", "approve", "confirmed")
    return bot, h, h.copilot.resume(first.approvals[0]["id"])


def test_a_higher_policy_limit_means_no_supplier_review(demo_home: Path, demo_manifest: dict[str, Any],
                                                         tmp_path: Path) -> None:
    # The same data and the same model; only the policy's limit differs (above this spike's excess).
    bot, h, result = _run_to_hold(demo_home, demo_manifest, tmp_path, _policy_with_limit(tmp_path, 0.5))
    assert bot.found["limit"] == 0.5 and bot.found["excess"] < 0.5
    assert not result.paused and [a["action"] for a in result.approvals] == ["place_quality_hold"]
    assert "supplier review" not in result.answer
    assert rows(h.plant, "SELECT * FROM supplier_reviews") == []


def test_a_plant_may_lower_the_limit_but_not_raise_it(demo_home: Path, demo_manifest: dict[str, Any],
                                                      tmp_path: Path) -> None:
    # Enterprise 0.5 would not trigger; P100 lowers it to 0.02, which does (the plant's limit applies at P100).
    bot, _, result = _run_to_hold(demo_home, demo_manifest, tmp_path / "lower",
                                  _policy_with_limit(tmp_path / "lower", 0.5, p100=0.02))
    assert bot.found["limit"] == 0.02
    assert {a["action"]: a["status"] for a in result.approvals} == {
        "place_quality_hold": "executed", "open_supplier_review": "pending"}
    with pytest.raises(PolicyLoosening, match="would raise the trigger limit scrap_variance_limit"):
        ApprovalRouter(load_policy(_policy_with_limit(tmp_path / "raise", 0.05, p100=0.2)))
