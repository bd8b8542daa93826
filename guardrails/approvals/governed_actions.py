"""The gate for actions: may this user have this model propose this change, and how is it governed?

An action call is decided in order, deny by default:

1. base grant — one of the user's roles grants the action's domain or its name (policy ``roles``), at a
   site the user holds; this also builds the data scope the action's reads and writes apply;
2. arguments — parsed into the action's model (``invalid_arguments`` otherwise);
3. subject — what the action would change, read within that scope (an unknown or foreign record is
   ``not_found``);
4. routing — :class:`~guardrails.approvals.ApprovalRouter`: allow (autonomous) / deny / needs approval;
5. model — the approved model must be allowed to propose that risk class (policy ``models``);
6. precondition — the records must be in a state the action can change (a snapshot is kept, so the
   execution can refuse if they change before it runs).

The decision is recorded as a ``gate_decision`` audit event. Executing actions, autonomous or approved, is
in :mod:`guardrails.approvals.service` (with the audit payload helpers here).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Engine

from guardrails.approvals.routing import ApprovalRouter, Route
from guardrails.audit.log import AuditKind
from guardrails.audit.trace import AuditSink, Trace
from guardrails.errors import ActionDecisionIncomplete
from guardrails.gate import Effect, data_scope
from guardrails.identity import User
from guardrails.policy.loader import Policy
from guardrails.policy.triggers import ActionTriggers
from tools.actions.catalog import ActionCatalog
from tools.actions.spec import ActionResult, ActionSpec, ActionSubject
from tools.errors import ArgumentError, RecordNotFound
from tools.scope import DataScope
from tools.spec import RiskClass, ToolContext

__all__ = [
    "ActionDecision",
    "GovernedActions",
    "ModelGrant",
    "RefusalStatus",
    "action_grant",
    "action_view",
    "autonomous_request_id",
    "durable",
    "executed_payload",
    "model_refusal",
]

RefusalStatus = Literal["denied", "invalid_arguments", "not_found", "precondition_failed"]
Clock = Callable[[], datetime]
_NO_SCOPE = DataScope(sites=frozenset())


class ModelGrant(Protocol):
    """What the gate needs to know about the model proposing (``agent.models.ApprovedModel`` fits)."""

    @property
    def id(self) -> str:
        """The model id as the policy lists it (``openai:gpt-4o-mini``)."""

    @property
    def approved_in(self) -> str:
        """The policy file approving the model."""

    def may_propose(self, risk_class: RiskClass) -> bool:
        """True when the model may propose a call of ``risk_class``."""


@dataclass(frozen=True)
class ActionDecision:
    """The gate's typed answer for one proposed action."""

    effect: Effect
    rule_id: str
    """The rule that decided: a policy key (``enterprise.yaml#actions.place_quality_hold.approvers[0]``) or a
    built-in rule (``gate.default_deny``, ``actions.precondition``, ``tool.arguments`` ...)."""
    reason: str
    """A sentence the model can relay to the user."""
    action: str
    user_id: str
    args: Mapping[str, Any]
    """The parsed arguments as canonical JSON values (defaults filled in): what an approval binds."""
    status: RefusalStatus | None = None
    """For a refusal: how the model sees it; ``None`` when allowed or routed for approval."""
    scope: DataScope = _NO_SCOPE
    route: Route | None = None
    subject: ActionSubject | None = None
    snapshot: Mapping[str, Any] = field(default_factory=dict)
    """Precondition snapshot of the records the action will change (when it got that far)."""
    risk_class: RiskClass | None = None
    """``autonomous`` for an allowed action, ``approval`` for one routed to approvers."""

    def routed(self) -> tuple[ActionSubject, Route]:
        """The subject and route of a decision that allows the action or routes it to approvers (the gate sets
        both for those); :class:`~guardrails.errors.ActionDecisionIncomplete` when either is missing."""
        if self.subject is None or self.route is None:
            raise ActionDecisionIncomplete(self.action, self.effect.value)
        return self.subject, self.route


def action_grant(policy: Policy, user: User, spec: ActionSpec) -> tuple[DataScope | None, str, str]:
    """(scope or ``None`` when refused, rule id, reason): the role grant and site scope of ``spec`` for ``user``
    under ``policy`` — step 1 of every action decision (also replayed by the policy what-if)."""
    roles = sorted(user.roles)
    name, domain = spec.name, spec.domain
    rule = next((policy.roles[r].rule_for(name, domain) for r in roles
                 if r in policy.roles and policy.roles[r].grants(name, domain)), None)
    if rule is None:
        denies = [policy.roles[r].rule_for(name, domain) for r in roles
                  if r in policy.roles and name in policy.roles[r].deny_tools]
        return None, denies[0] if denies else "gate.default_deny", (
            f"Your role ({', '.join(roles) or 'none'}) does not grant {name} ({domain} actions).")
    user_sites = policy.user_sites(user)
    granted = frozenset(s for s in user_sites
                        if any(policy.roles_at(s)[r].grants(name, domain) for r in roles
                               if r in policy.roles_at(s)))
    if not granted:
        return None, "gate.no_site_access", f"No site you hold grants {name} to your role."
    return data_scope(policy, user, granted), rule, f"{name} granted by {rule}."


def autonomous_request_id(trace_id: str, tool_call_id: str) -> str:
    """The request id of an autonomous execution: deterministic per (turn, tool call), so a re-run replays."""
    digest = hashlib.sha256(f"{trace_id}|{tool_call_id}".encode()).hexdigest()[:12].upper()
    return f"AUT-{digest}"


def action_view(result: ActionResult, *, as_of: datetime | None = None, request_id: str | None = None,
                ) -> dict[str, Any]:
    """What the model sees of an execution: status, message, records changed with before/after values, and
    the plant data's as-of time (the records are as of then, plus this change)."""
    view: dict[str, Any] = {
        "status": result.status, "action": result.action, "request_id": request_id or result.request_id,
        "as_of": as_of.isoformat() if as_of is not None else None, "message": result.message,
        "record_ids": list(result.record_ids),
        "changed": [{"table": c.table, "record_id": c.record_id, "before": c.before, "after": c.after}
                    for c in result.changed],
    }
    if result.reason:
        view["reason"] = result.reason
    return view


class GovernedActions:
    """Decides and runs action calls against one immutable policy (the write-side sibling of GovernedTools)."""

    def __init__(self, *, policy: Policy, catalog: ActionCatalog, router: ApprovalRouter, engine: Engine,
                 today: date, as_of: Callable[[], datetime], clock: Clock | None = None) -> None:
        """``engine`` is the plant; ``as_of`` reads the plant's as-of time; ``clock`` is wall time (UTC)."""
        self.policy = policy
        self.catalog = catalog
        self.router = router
        self.engine = engine
        self.today = today
        self._as_of = as_of
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._base: dict[tuple[str, str], tuple[DataScope | None, str, str]] = {}

    # -- base grant ----------------------------------------------------------------------------------

    def base_grant(self, user: User, spec: ActionSpec) -> tuple[DataScope | None, str, str]:
        """(scope or ``None`` when refused, rule id, reason): the role grant and site scope for ``spec``."""
        key = (user.user_id, spec.name)
        cached = self._base.get(key)
        if cached is None:
            cached = self._base[key] = action_grant(self.policy, user, spec)
        return cached

    def as_of(self) -> datetime:
        """The plant data's as-of time."""
        return self._as_of()

    def context(self, scope: DataScope) -> ToolContext:
        """A tool context on the plant for ``scope``."""
        return ToolContext(engine=self.engine, scope=scope, today=self.today, as_of=self._as_of())

    # -- what the model is offered ---------------------------------------------------------------------

    def offered(self, user: User, model: ModelGrant | None) -> list[ActionSpec]:
        """Actions ``user`` may propose through ``model``: base grant, a proposer role at one of their sites,
        and a risk class the model may propose. Subject-dependent checks happen per call."""
        if model is None:
            return []
        out = []
        for spec in self.catalog:
            scope, _, _ = self.base_grant(user, spec)
            if scope is None:
                continue
            rules = [self.router.rule(spec.name, s) for s in sorted(self.policy.user_sites(user))]
            classes = {_class_of(r.risk_class, bool(r.autonomous_when))
                       for r in rules if r is not None and user.roles & r.proposers}
            if any(model.may_propose(c) for cs in classes for c in cs):
                out.append(spec)
        return out

    def triggers(self, user: User, action: str) -> ActionTriggers:
        """The policy's trigger limits of ``action`` at ``user``'s sites (when the copilot should propose it)."""
        return self.router.triggers(action, self.policy.user_sites(user))

    def description(self, user: User, spec: ActionSpec) -> str:
        """The action's description as offered to ``user``'s model: with its policy triggers, if any."""
        note = self.triggers(user, spec.name).note()
        return f"{spec.description}\n{note}" if note else spec.description

    # -- deciding --------------------------------------------------------------------------------------

    def decide(self, user: User, action: str, args: Mapping[str, Any], *, model: ModelGrant | None,
               trace: Trace, audit: AuditSink) -> ActionDecision:
        """Decide one proposed action and record the decision (``gate_decision``)."""
        decision = self._decide(user, action, args, model)
        payload: dict[str, Any] = {
            "tool": action, "kind": "action", "args": dict(decision.args), "effect": decision.effect.value,
            "rule_id": decision.rule_id, "reason": decision.reason, "scope": decision.scope.describe()}
        if decision.status is not None:
            payload["status"] = decision.status
        if decision.subject is not None:
            payload["subject"] = decision.subject.to_json()
        if decision.risk_class is not None:
            payload["risk_class"] = decision.risk_class.value
            payload["model"] = model.id if model is not None else None
        if decision.route is not None and decision.route.groups:
            payload["approver_groups"] = [g.to_json_dict() for g in decision.route.groups]
        audit.add(trace.event(AuditKind.GATE_DECISION, payload))
        return decision

    def _decide(self, user: User, action: str, raw: Mapping[str, Any], model: ModelGrant | None) -> ActionDecision:
        def refuse(rule_id: str, reason: str, status: RefusalStatus = "denied", **extra: Any) -> ActionDecision:
            return ActionDecision(Effect.DENY, rule_id, reason, action, user.user_id, extra.pop("args", dict(raw)),
                                  status, **extra)

        if action not in self.catalog:
            return refuse("gate.unknown_tool", f"There is no action called {action!r}.")
        spec = self.catalog.get(action)
        scope, rule_id, reason = self.base_grant(user, spec)
        if scope is None:
            return refuse(rule_id, reason)
        try:
            parsed = spec.parse_args(raw)
        except ArgumentError as exc:
            return refuse("tool.arguments", str(exc), "invalid_arguments")
        args = parsed.model_dump(mode="json")
        ctx = self.context(scope)
        try:
            subject = spec.subject(ctx, parsed)
        except RecordNotFound as exc:
            return refuse("gate.scope.record_not_found", f"{exc} (within your access).", "not_found", args=args,
                          scope=scope)
        except ArgumentError as exc:
            return refuse("tool.arguments", str(exc), "invalid_arguments", args=args, scope=scope)
        route = self.router.route(action, user, subject)
        if route.effect is Effect.DENY:
            return refuse(route.rule_id, route.reason, args=args, scope=scope, route=route, subject=subject)
        risk = RiskClass.AUTONOMOUS if route.effect is Effect.ALLOW else RiskClass.APPROVAL
        if model is None or not model.may_propose(risk):
            where, why = model_refusal(model, risk, action)
            return refuse(where, why, args=args, scope=scope, route=route, subject=subject, risk_class=risk)
        pre = spec.precondition(ctx, parsed)
        if not pre.ok:
            return refuse("actions.precondition", f"{action} cannot run now: {pre.reason}.", "precondition_failed",
                          args=args, scope=scope, route=route, subject=subject, snapshot=pre.snapshot,
                          risk_class=risk)
        return ActionDecision(route.effect, route.rule_id, route.reason, action, user.user_id, args, None, scope,
                              route, subject, pre.snapshot, risk)


def model_refusal(model: ModelGrant | None, risk: RiskClass, action: str) -> tuple[str, str]:
    """(rule id, reason) of refusing ``action`` of class ``risk`` because ``model`` may not propose it."""
    # A grant other than a model's (the monitor's) names its own rule; a model's is its policy entry.
    where = (getattr(model, "rule_id", None) or f"{model.approved_in}#models.approved[{model.id}].risk_classes"
             if model is not None else "models.no_action_grant")
    who = f"the model {model.id}" if model is not None else "this model"
    return where, (f"{who} is not approved to propose {risk} actions such as {action}; "
                   "a person must do it in the plant systems.")


def durable(audit: AuditSink) -> None:
    """Write what ``audit`` buffered now (a change to the plant must not wait for the end of the turn)."""
    flush = getattr(audit, "flush", None)
    if callable(flush):
        flush()


def executed_payload(result: ActionResult, rule_id: str) -> dict[str, Any]:
    """The ``action_executed`` / ``action_compensated`` audit payload: what ran and every record it changed."""
    return {"action": result.action, "request_id": result.request_id, "idempotency_key": result.idempotency_key,
            "status": result.status, "replayed": result.replayed, "rule_id": rule_id, "message": result.message,
            "reason": result.reason, "record_ids": list(result.record_ids),
            "changed": [c.to_json() for c in result.changed]}


def _class_of(risk_class: RiskClass, has_autonomy: bool) -> tuple[RiskClass, ...]:
    """The risk classes a proposal of an action with ``risk_class`` can end up in."""
    if risk_class is RiskClass.APPROVAL:
        return (RiskClass.APPROVAL, RiskClass.AUTONOMOUS) if has_autonomy else (RiskClass.APPROVAL,)
    return (risk_class,)
