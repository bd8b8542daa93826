"""Re-deciding one recorded action request under a draft: the action gate's policy steps, on the recorded subject.

The plant is not read again: the subject the gate read when the request was made (site, value, facts — recorded in
its ``gate_decision``) is routed under the draft, so only the policy changes, never the data. Steps, as in
:meth:`guardrails.approvals.governed_actions.GovernedActions.decide`:

1. base grant (roles and sites) — under the draft;
2. arguments and subject — policy-independent: a recorded ``invalid_arguments`` or ``not_found`` stands once the
   grant passes (a not-found subject was never recorded, so it cannot be routed);
3. routing — :class:`~guardrails.approvals.routing.ApprovalRouter` of the draft on the recorded subject;
4. model — the draft's grant of the recorded model (the monitor's ``monitoring.risk_classes`` for its requests);
   a decision refused before the model was recorded is replayed without this step;
5. precondition — data, not policy: a recorded precondition failure stands once the steps above pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from guardrails.approvals.governed_actions import ModelGrant, action_grant, model_refusal
from guardrails.gate import Effect
from guardrails.identity import SYSTEM_PREFIX, User
from guardrails.monitoring.proposals import MonitorGrant
from guardrails.whatif.draft import DraftPolicy
from tools.actions.catalog import ActionCatalog
from tools.actions.spec import ActionSubject
from tools.spec import RiskClass

__all__ = ["ActionReplay", "Redecided"]

_DATA_REFUSALS = frozenset({"invalid_arguments", "not_found"})


@dataclass(frozen=True)
class Redecided:
    """A decision as the draft would make it."""

    effect: str
    rule_id: str
    reason: str
    scope: Mapping[str, Any] | None = None
    groups: tuple[Mapping[str, Any], ...] = ()
    note: str | None = None


class ActionReplay:
    """Re-decides recorded action requests under one draft."""

    def __init__(self, draft: DraftPolicy, catalog: ActionCatalog) -> None:
        self.draft = draft
        self.catalog = catalog

    def _grant(self, user: User, payload: Mapping[str, Any]) -> tuple[ModelGrant | None, str | None]:
        """The draft's grant for the proposer of this decision, and a note when it cannot be known."""
        if user.user_id.startswith(SYSTEM_PREFIX):  # monitor:<role>@<signal site>[+<site>...]
            site = user.user_id.partition("@")[2].split("+")[0]
            return MonitorGrant(self.draft.monitoring, site), None
        model_id = payload.get("model")
        if not isinstance(model_id, str):
            return None, "the proposing model was not recorded (refused before routing): no model check"
        return self.draft.models.approved.get(model_id), None

    def redecide(self, user: User, payload: Mapping[str, Any], when: datetime) -> Redecided:
        """The draft's decision on the action request recorded by ``payload`` (a ``gate_decision``)."""
        action = str(payload.get("tool"))
        if action not in self.catalog:
            return Redecided(Effect.DENY.value, "gate.unknown_tool", f"There is no action called {action!r}.")
        scope, rule_id, reason = action_grant(self.draft.policy, user, self.catalog.get(action))
        if scope is None:
            return Redecided(Effect.DENY.value, rule_id, reason)
        old_rule, old_effect = str(payload.get("rule_id")), str(payload.get("effect"))
        raw_subject = payload.get("subject")
        if payload.get("status") in _DATA_REFUSALS or not isinstance(raw_subject, Mapping):
            return Redecided(old_effect, old_rule, str(payload.get("reason", "")), scope.describe(),
                             note="refused on its arguments or records, not on policy: kept as recorded")
        try:
            subject = ActionSubject.model_validate(raw_subject)
        except ValidationError:
            return Redecided(old_effect, old_rule, str(payload.get("reason", "")), scope.describe(),
                             note="the recorded subject no longer parses: kept as recorded")
        route = self.draft.router.route(action, user, subject, now=when)
        if route.effect is Effect.DENY:
            return Redecided(Effect.DENY.value, route.rule_id, route.reason, scope.describe())
        risk = RiskClass.AUTONOMOUS if route.effect is Effect.ALLOW else RiskClass.APPROVAL
        groups = tuple(g.to_json_dict() for g in route.groups)
        model, note = self._grant(user, payload)
        if note is None and (model is None or not model.may_propose(risk)):
            where, why = model_refusal(model, risk, action)
            return Redecided(Effect.DENY.value, where, why, scope.describe())
        if old_rule == "actions.precondition":
            return Redecided(Effect.DENY.value, old_rule, str(payload.get("reason", "")), scope.describe(),
                             note="the records were not in a state the action can change: kept as recorded")
        return Redecided(route.effect.value, route.rule_id, route.reason, scope.describe(), groups, note)
