"""The monitoring loop on the demo plant: signals with evidence, de-duplication, governed proposals made by the system
for a role (never approved by it), execution on approval, follow-ups, outcomes, escalation, and the audit of it all."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from guardrails.approvals.models import DecisionKind, RequestStatus
from guardrails.audit.log import AuditKind
from guardrails.errors import UnknownUser
from guardrails.monitoring import Monitor, Signal, SignalStatus
from guardrails.policy.loader import default_policy_dir, load_policy
from server.runtime import Runtime, RuntimeOverrides, build_runtime
from server.settings import Settings
from tests.policy_helpers import policy_user
from tools.monitoring import Outcome
from tools.plant.schema import table


def _by_detector(monitor: Monitor, detector: str) -> list[Signal]:
    return [s for s in monitor.store.signals(active_only=False) if s.detector == detector]


def _lot_signal(monitor: Monitor, lot_id: str) -> Signal:
    return next(s for s in _by_detector(monitor, "scrap_spike") if lot_id in s.record_ids and s.figures.get("lot_id"))


def _held_spike(monitor: Monitor, runtime: Runtime, manifest: dict[str, Any]) -> Signal:
    """Run once, approve the spike lot's hold as quinn.quality and settle it: the signal, now actioned."""
    monitor.run()
    signal = _lot_signal(monitor, manifest["scenarios"]["scrap_spike"]["lot_id"])
    request_id = signal.proposals[0]["request_id"]
    with runtime.audit.buffer() as audit:
        runtime.approvals.decide(request_id, "quinn.quality", DecisionKind.APPROVE, "hold it", audit=audit)
    monitor.settle(request_id)
    return signal


def _events(runtime: Runtime, kind: AuditKind) -> list[Any]:
    return [r for r in runtime.audit.export() if r.kind == kind.value]


def test_a_run_opens_one_signal_per_planted_subject_with_its_evidence(monitor: Monitor, runtime: Runtime,
                                                                      demo_manifest: dict[str, Any]) -> None:
    summary = monitor.run()
    assert summary.status == "completed" and not summary.errors
    assert len(summary.detectors_run) == 2 * 6  # every detector at both sites
    spike = demo_manifest["scenarios"]["scrap_spike"]
    signal = _lot_signal(monitor, spike["lot_id"])
    assert signal.site_id == "P100" and signal.role == "quality_engineer" and signal.status is SignalStatus.OPEN
    assert signal.figures["scrap_rate"] > signal.figures["baseline_rate"] + 0.05
    assert signal.rule_id == "enterprise.yaml#monitoring.detectors.scrap_spike"
    asset = demo_manifest["scenarios"]["asset_risk"]["asset_id"]
    assert any(asset in s.record_ids for s in _by_detector(monitor, "asset_risk"))
    runs = _events(runtime, AuditKind.MONITOR_RUN)
    assert len(runs) == 1 and set(runs[0].payload["opened"]) == set(summary.opened)
    opened = [e for e in _events(runtime, AuditKind.SIGNAL) if e.payload["change"] == "opened"]
    assert len(opened) == len(summary.opened) and all(e.trace_id == summary.run_id for e in opened)


def test_a_second_run_updates_instead_of_duplicating(monitor: Monitor) -> None:
    first = monitor.run()
    second = monitor.run()
    assert second.opened == () and second.resolved == ()
    assert len(monitor.store.signals(active_only=True)) == len(first.opened)
    assert {s.seen_runs for s in monitor.store.signals()} == {2}
    assert second.proposed == ()  # a proposal is made once per signal, not once per run


def test_the_system_requests_for_a_role_and_can_never_decide(monitor: Monitor, runtime: Runtime,
                                                             demo_manifest: dict[str, Any]) -> None:
    monitor.run()
    signal = _lot_signal(monitor, demo_manifest["scenarios"]["scrap_spike"]["lot_id"])
    (proposal,) = signal.proposals
    assert proposal["action"] == "place_quality_hold" and proposal["effect"] == "needs_approval"
    request = runtime.approvals.get(proposal["request_id"])
    assert request.requester == "monitor:quality_engineer@P100" and request.thread_id == f"signal:{signal.signal_id}"
    assert request.status is RequestStatus.PENDING
    assert {r for g in request.groups for r in g.roles} == {"quality_engineer", "production_supervisor"}
    with runtime.audit.buffer() as audit, pytest.raises(UnknownUser):
        runtime.approvals.decide(request.id, request.requester, DecisionKind.APPROVE, audit=audit)
    assert runtime.approvals.get(request.id).status is RequestStatus.PENDING
    requested = [e for e in _events(runtime, AuditKind.APPROVAL_REQUESTED) if e.payload["request_id"] == request.id]
    assert len(requested) == 1
    gate = [e for e in _events(runtime, AuditKind.GATE_DECISION)
            if e.payload.get("tool") == "place_quality_hold" and e.trace_id == request.trace_id]
    assert gate and gate[0].payload["effect"] == "needs_approval" and gate[0].payload["model"] == "monitor"
    assert gate[0].user_id == "jidoka.monitor"  # the run's trace; the request names the role it acts for


def test_approval_executes_once_then_the_follow_up_is_proposed(monitor: Monitor, runtime: Runtime,
                                                               demo_manifest: dict[str, Any]) -> None:
    monitor.run()
    lot_id = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    signal = _lot_signal(monitor, lot_id)
    request_id = signal.proposals[0]["request_id"]
    with runtime.audit.buffer() as audit:
        runtime.approvals.decide(request_id, "quinn.quality", DecisionKind.APPROVE, "seal failures", audit=audit)
    settled = monitor.settle(request_id)
    assert settled is not None and settled.status == "executed"
    assert monitor.settle(request_id) is not None  # a second settle replays, it does not execute again
    with runtime.data_engine.connect() as conn:
        lots, ledger = table("lots"), table("action_executions")
        assert conn.execute(select(lots.c.status).where(lots.c.lot_id == lot_id)).scalar() == "quality_hold"
        assert len(conn.execute(select(ledger).where(ledger.c.request_id == request_id)).all()) == 1
    after = monitor.store.get(signal.signal_id)
    assert after.status is SignalStatus.ACTIONED and after.outcome["request_id"] == request_id
    review = after.proposals[1]
    assert review["action"] == "open_supplier_review" and review["effect"] == "needs_approval"
    assert runtime.approvals.get(review["request_id"]).args["supplier_id"] == \
        demo_manifest["scenarios"]["scrap_spike"]["supplier_id"]


def test_a_signal_no_longer_found_is_resolved(monitor: Monitor, runtime: Runtime,
                                              demo_manifest: dict[str, Any]) -> None:
    monitor.run()
    held = demo_manifest["scenarios"]["reconciliation"]["lot_id"]
    signal = next(s for s in _by_detector(monitor, "cross_system") if held in s.record_ids)
    with runtime.data_engine.begin() as conn:  # somebody brings the ERP stock in line with the MES hold
        inv = table("inventory")
        conn.execute(inv.update().where(inv.c.lot_id == held).values(stock_status="quality_inspection"))
    summary = monitor.run()
    assert signal.signal_id in summary.resolved
    resolved = monitor.store.get(signal.signal_id)
    assert resolved.status is SignalStatus.RESOLVED and resolved.closed_reason == "no longer detected"
    assert monitor.store.active(signal.subject_key) is None


def test_not_improving_escalates_to_the_next_role(monitor: Monitor, runtime: Runtime,
                                                  demo_manifest: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    signal = _held_spike(monitor, runtime, demo_manifest)
    bad = Outcome("not_improving", {"scrap_rate": 0.07}, "Scrap is still high.")
    monkeypatch.setattr("guardrails.monitoring.service.check_outcome", lambda *a, **k: bad)
    watch = monitor.rules.watch("P100")
    for _ in range(watch - 1):
        assert signal.signal_id not in monitor.run().escalated
    assert signal.signal_id in monitor.run().escalated
    escalated = monitor.store.get(signal.signal_id)
    assert escalated.status is SignalStatus.ESCALATED and escalated.role == "production_supervisor"
    assert escalated.level == 1
    sam = policy_user("sam.supervisor")
    from guardrails.monitoring import may_respond
    assert may_respond(escalated, sam, runtime.policy, monitor.rules)[0]
    event = [e for e in _events(runtime, AuditKind.SIGNAL) if e.payload["change"] == "escalated"]
    assert event and event[-1].payload["to_role"] == "production_supervisor"


def test_improved_outcome_resolves(monitor: Monitor, runtime: Runtime, demo_manifest: dict[str, Any],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    signal = _held_spike(monitor, runtime, demo_manifest)
    good = Outcome("improved", {"scrap_rate": 0.012}, "Scrap is back to baseline.")
    monkeypatch.setattr("guardrails.monitoring.service.check_outcome", lambda *a, **k: good)
    summary = monitor.run()
    assert signal.signal_id in summary.resolved
    resolved = monitor.store.get(signal.signal_id)
    assert resolved.status is SignalStatus.RESOLVED and resolved.outcome["status"] == "improved"
    assert resolved.closed_reason.startswith("outcome improved")
    # the lot's old scrap is still inside the detector's window: it holds the subject instead of opening a new one
    assert resolved.holds_subject and monitor.run().opened == ()
    assert monitor.store.active(signal.subject_key) == monitor.store.get(signal.signal_id)
    monkeypatch.setattr("guardrails.monitoring.service.run_detector", lambda *a, **k: [])  # the window moved on
    monitor.run()
    assert monitor.store.active(signal.subject_key) is None and not monitor.store.get(signal.signal_id).holds_subject


def test_a_run_while_another_holds_the_lock_is_skipped_and_audited(monitor: Monitor, runtime: Runtime) -> None:
    assert monitor.store.acquire("worker-2", lease=timedelta(minutes=5)) is None
    summary = monitor.run(holder="worker-1")
    assert summary.status == "skipped" and summary.holder == "worker-2"
    assert monitor.store.signals() == []
    assert _events(runtime, AuditKind.MONITOR_RUN)[-1].payload["status"] == "skipped"
    monitor.store.release("worker-2")
    assert monitor.run(holder="worker-1").status == "completed"


def test_the_audit_chain_verifies_after_runs(monitor: Monitor, runtime: Runtime) -> None:
    monitor.run()
    monitor.run()
    assert runtime.audit.verify().ok


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_signal_for_a_role_nobody_holds_at_the_site_goes_to_the_next_role(monitor: Monitor) -> None:
    rule = monitor.rules.rule("asset_risk", "P200")
    assert rule is not None and rule.owner == "maintenance_planner"
    assert monitor._staffed(rule, "P200") == (1, "production_supervisor")  # P200 has no maintenance planner
    assert monitor._staffed(rule, "P100") == (0, "maintenance_planner")


def _spare_stocked(runtime: Runtime, manifest: dict[str, Any]) -> str:
    """Enough free stock of the at-risk asset's spare at P100 for a reservation (the demo plant is one short)."""
    spare = manifest["scenarios"]["asset_risk"]["spare_item_id"]
    with runtime.data_engine.begin() as conn:
        inv = table("inventory")
        row = conn.execute(select(inv).where(inv.c.item_id == spare, inv.c.site_id == "P100")
                           .order_by(inv.c.lot_id)).first()
        assert row is not None
        conn.execute(inv.update().where(inv.c.lot_id == row.lot_id, inv.c.location == row.location,
                                        inv.c.item_id == spare).values(qty_on_hand=row.qty_on_hand + 10))
    return str(spare)


def _approve_maintenance(monitor: Monitor, runtime: Runtime, manifest: dict[str, Any]) -> Signal:
    monitor.run()
    asset = manifest["scenarios"]["asset_risk"]["asset_id"]
    signal = next(s for s in _by_detector(monitor, "asset_risk") if asset in s.record_ids)
    request_id = signal.proposals[0]["request_id"]
    with runtime.audit.buffer() as audit:
        runtime.approvals.decide(request_id, "max.maint", DecisionKind.APPROVE, "plan it", audit=audit)
    monitor.settle(request_id)
    return monitor.store.get(signal.signal_id)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_spare_reservation_runs_autonomously_where_the_policy_allows(monitor: Monitor, runtime: Runtime,
                                                                        demo_manifest: dict[str, Any]) -> None:
    spare = _spare_stocked(runtime, demo_manifest)
    signal = _approve_maintenance(monitor, runtime, demo_manifest)
    order, reservation = signal.proposals
    assert order["status"] == "executed" and reservation["action"] == "reserve_spare_parts"
    assert reservation["effect"] == "allow" and reservation["status"] == "executed", reservation
    request = runtime.approvals.get(reservation["request_id"])
    assert request.autonomous and request.requester == "monitor:maintenance_planner@P100"
    assert request.args["item_id"] == spare and request.id.startswith("AUT-")
    assert reservation["rule_id"].startswith("enterprise.yaml#actions.reserve_spare_parts.autonomous_when")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_plant_without_autonomy_for_the_monitor_refuses_by_its_rule(tmp_path: Path, plant_url: str, state_url: str,
                                                                    demo_manifest: dict[str, Any]) -> None:
    policy_dir = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), policy_dir)
    p100 = policy_dir / "plants" / "P100.yaml"
    p100.write_text(p100.read_text() + "\n" + yaml.safe_dump({"monitoring": {"risk_classes": ["advisory",
                                                                                             "approval"]}}))
    settings = replace(Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")}), data_url=plant_url,
                       state_url=state_url)
    runtime = build_runtime(settings, RuntimeOverrides(policy=load_policy(policy_dir)))
    try:
        assert runtime.monitor is not None
        _spare_stocked(runtime, demo_manifest)
        signal = _approve_maintenance(runtime.monitor, runtime, demo_manifest)
    finally:
        runtime.close()
    reservation = signal.proposals[1]
    assert reservation["effect"] == "deny" and reservation["rule_id"] == "plants/P100.yaml#monitoring.risk_classes"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_run_that_dies_midway_leaves_every_stored_signal_audited(monitor: Monitor, runtime: Runtime,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    durable_at_crash: list[set[str]] = []

    def killed(self: Monitor, run: Any, rule: Any, signal: Signal, finding: Any) -> None:
        # What a kill right here would leave: only what is already written (the run's buffer dies with it).
        durable_at_crash.append({e.payload["signal_id"] for e in _events(runtime, AuditKind.SIGNAL)
                                 if e.payload["change"] == "opened"})
        raise RuntimeError("the process is killed here")

    monkeypatch.setattr(Monitor, "_propose_next", killed)
    with pytest.raises(RuntimeError):
        monitor.run()
    (stored,) = monitor.store.signals()
    assert durable_at_crash == [{stored.signal_id}]  # the stored signal's event was durable before the kill
    assert monitor.store.acquire("next-runner", lease=timedelta(minutes=1)) is None  # the lock was given back
