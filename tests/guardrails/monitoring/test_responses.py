"""People respond to signals: acknowledge, dismiss, override — each with a reason and audited, refusals too; an
override declines the pending recommendation and may ask for another action, decided as the person's own request."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from guardrails.approvals.models import RequestStatus
from guardrails.audit.log import AuditKind
from guardrails.errors import SignalResponseRefused
from guardrails.monitoring import Monitor, ResponseKind, Signal, SignalStatus, may_see, respond
from server.runtime import Runtime
from tests.policy_helpers import policy_user
from tools.plant.schema import table


@pytest.fixture
def spike(monitor: Monitor, demo_manifest: dict[str, Any]) -> Signal:
    monitor.run()
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    return next(s for s in monitor.store.signals() if s.detector == "scrap_spike" and s.figures.get("lot_id") == lot)


def _responses(runtime: Runtime) -> list[Any]:
    return [r for r in runtime.audit.export() if r.kind == AuditKind.SIGNAL_RESPONSE.value]


def _respond(monitor: Monitor, runtime: Runtime, signal: Signal, user: str, kind: ResponseKind, reason: str,
             **extra: Any) -> Signal:
    with runtime.audit.buffer() as audit:
        return respond(monitor, signal.signal_id, policy_user(user), kind, reason, audit=audit, **extra)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_acknowledge_and_dismiss_are_kept_with_their_reasons(monitor: Monitor, runtime: Runtime,
                                                            spike: Signal) -> None:
    acked = _respond(monitor, runtime, spike, "quinn.quality", ResponseKind.ACKNOWLEDGE, "looking at the film lot")
    assert acked.status is SignalStatus.ACKNOWLEDGED and acked.responses[-1].reason == "looking at the film lot"
    dismissed = _respond(monitor, runtime, acked, "quinn.quality", ResponseKind.DISMISS, "known trial run")
    assert dismissed.status is SignalStatus.DISMISSED
    assert [e.payload["response"] for e in _responses(runtime)] == ["acknowledge", "dismiss"]
    assert _responses(runtime)[-1].payload["reason"] == "known trial run"
    assert monitor.run().opened == ()  # still found: the dismissed signal stays, quiet
    assert monitor.store.get(spike.signal_id).status is SignalStatus.DISMISSED


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_override_declines_the_recommendation_and_asks_for_another_hold(monitor: Monitor, runtime: Runtime,
                                                                       spike: Signal) -> None:
    recommended = spike.proposals[0]["request_id"]
    with runtime.data_engine.connect() as conn:  # an open order on the same line: hold it instead of the lot
        wos = table("work_orders")
        other_wo = conn.execute(select(wos.c.wo_id).where(wos.c.line_id == spike.figures["line_id"],
                                                          wos.c.status == "released").order_by(wos.c.wo_id)).scalar()
    overridden = _respond(monitor, runtime, spike, "quinn.quality", ResponseKind.OVERRIDE,
                          "the film is fine; the sealer needs the hold", action="place_quality_hold",
                          args={"wo_id": other_wo, "reason": "sealer at fault"})
    assert overridden.status is SignalStatus.OVERRIDDEN
    assert runtime.approvals.get(recommended).status is RequestStatus.REJECTED  # nothing of it executes
    alternative = overridden.proposals[-1]
    assert alternative["by"] == "quinn.quality" and alternative["effect"] == "needs_approval"
    request = runtime.approvals.get(alternative["request_id"])
    assert request.requester == "quinn.quality" and request.args["wo_id"] == other_wo
    (event,) = _responses(runtime)
    assert event.payload["override"] is True and event.payload["declined"] == [recommended]
    assert event.payload["recommendations"] == [recommended] and "sealer" in event.payload["reason"]
    assert event.payload["alternative"]["request_id"] == request.id
    decided = [r for r in runtime.audit.export() if r.kind == AuditKind.APPROVAL_DECIDED.value]
    assert decided and decided[-1].payload["request_id"] == recommended


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("user", "reason", "rule"), [
    ("qiu.quality", "not my site", "signals.site"),           # the other site's quality engineer
    ("pat.planner", "planners watch only", "signals.role"),   # P100, but no role of this detector
    ("quinn.quality", "  ", "signals.reason"),                 # no reason
])
def test_refusals_change_nothing_and_are_audited(monitor: Monitor, runtime: Runtime, spike: Signal, user: str,
                                                 reason: str, rule: str) -> None:
    with pytest.raises(SignalResponseRefused) as refused:
        _respond(monitor, runtime, spike, user, ResponseKind.DISMISS, reason)
    assert refused.value.rule_id == rule
    assert monitor.store.get(spike.signal_id) == spike
    (event,) = _responses(runtime)
    assert event.payload["effect"] == "deny" and event.payload["rule_id"] == rule and event.user_id == user


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_who_sees_a_signal(monitor: Monitor, runtime: Runtime, spike: Signal) -> None:
    policy, rules = runtime.policy, monitor.rules
    assert may_see(spike, policy_user("quinn.quality"), policy, rules)      # its role at its site
    assert may_see(spike, policy_user("eve.exec"), policy, rules)           # a watcher
    assert may_see(spike, policy_user("ada.auditor"), policy, rules)        # audit.read
    assert not may_see(spike, policy_user("qiu.quality"), policy, rules)    # the other site
    assert not may_see(spike, policy_user("pat.planner"), policy, rules)    # no role of this detector
    requests = (runtime.approvals.get(spike.proposals[0]["request_id"]),)
    assert may_see(spike, policy_user("sam.supervisor"), policy, rules, requests)  # may decide its request
