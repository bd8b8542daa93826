"""The action gate's decision: what a decision that allows or routes an action must carry to be planned."""

from __future__ import annotations

from typing import Any

import pytest

from guardrails.approvals.governed_actions import ActionDecision
from guardrails.approvals.routing import Route
from guardrails.errors import ActionDecisionIncomplete
from guardrails.gate import Effect
from tools.actions.spec import ActionSubject

SUBJECT = ActionSubject(action="place_quality_hold", site_id="P100", value_usd=10.0, record_ids=["LOT-P100-0001"],
                        summary="hold lot LOT-P100-0001")
ROUTE = Route(Effect.NEEDS_APPROVAL, "enterprise.yaml#actions.place_quality_hold.approvers[0]", "needs quality",
              "place_quality_hold", "sam.supervisor")


def _decision(**extra: Any) -> ActionDecision:
    return ActionDecision(Effect.NEEDS_APPROVAL, ROUTE.rule_id, ROUTE.reason, "place_quality_hold",
                          "sam.supervisor", {}, **extra)


def test_a_routed_decision_yields_its_subject_and_route() -> None:
    assert _decision(route=ROUTE, subject=SUBJECT).routed() == (SUBJECT, ROUTE)


@pytest.mark.parametrize("extra", [{}, {"route": ROUTE}, {"subject": SUBJECT}])
def test_a_routed_decision_missing_its_subject_or_route_is_a_typed_error(extra: dict[str, Any]) -> None:
    with pytest.raises(ActionDecisionIncomplete, match="needs_approval decision on place_quality_hold has no subject"):
        _decision(**extra).routed()
