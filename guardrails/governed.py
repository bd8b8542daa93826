"""Permissions wrap tools: every call — agent, CLI or API — goes gate → scoped tool → audit.

Tools never check permissions; this wrapper asks the gate, runs the tool with
the scope the decision built, and records the decision and a summary of the
result (ids read and counts, never bulk data) in the audit buffer of the turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine

from guardrails.audit.log import AuditKind
from guardrails.audit.trace import AuditSink, Trace
from guardrails.errors import ToolOutcomeEmpty, UnknownUser
from guardrails.gate import Decision, Effect, Gate
from guardrails.identity import User
from guardrails.screening.spotlight import FieldFinding, screen_and_spotlight
from guardrails.tracing import TurnTracing
from tools.catalog import Catalog
from tools.context import plant_as_of
from tools.document_index import DocumentIndex
from tools.errors import ArgumentError
from tools.spec import ServiceUnavailable, ToolContext, ToolResult

__all__ = ["GovernedTools", "Refusal", "ToolOutcome"]

MAX_AUDITED_IDS = 200


class Refusal(BaseModel):
    """What the caller (and the model) receives instead of data when a call is not allowed."""

    status: Literal["denied", "needs_approval", "invalid_arguments", "unavailable"]
    tool: str
    rule_id: str
    reason: str


@dataclass(frozen=True)
class ToolOutcome:
    """The result of one governed call: the decision and either data or a refusal."""

    decision: Decision
    result: ToolResult | None
    refusal: Refusal | None
    model_view: dict[str, Any] | None = None
    """The result as the model sees it: free text screened and spotlighted as data."""
    findings: tuple[FieldFinding, ...] = ()
    """Data-screening findings in the result's free text (planted instructions and the like)."""

    @property
    def ok(self) -> bool:
        """True when the tool ran and returned data."""
        return self.result is not None

    def result_or_refusal(self) -> ToolResult | Refusal:
        """The data, or the refusal given instead; :class:`~guardrails.errors.ToolOutcomeEmpty` for an outcome
        holding neither (``GovernedTools`` always sets one)."""
        if self.result is not None:
            return self.result
        if self.refusal is not None:
            return self.refusal
        raise ToolOutcomeEmpty(self.decision.tool)

    def for_model(self) -> dict[str, Any]:
        """The JSON the model sees: the spotlighted result, or the refusal it can explain."""
        answer = self.result_or_refusal()
        if isinstance(answer, Refusal):
            return answer.model_dump(mode="json")
        return self.model_view if self.model_view is not None else answer.model_dump(mode="json")


class GovernedTools:
    """The only way to run a tool: decide, scope, run, audit."""

    def __init__(self, *, gate: Gate, catalog: Catalog, engine: Engine, today: date,
                 knowledge: DocumentIndex | None = None, tracing: TurnTracing | None = None) -> None:
        """``tracing``: a span per gate decision and per tool run (none by default)."""
        self.gate = gate
        self.catalog = catalog
        self.engine = engine
        self.today = today
        self.knowledge = knowledge
        """The document index handed to document tools (opened lazily by the index itself)."""
        self.tracing = tracing or TurnTracing.off()
        self._as_of: datetime | None = None

    def as_of(self) -> datetime:
        """The plant data's as-of time (read once, lazily: the plant may be built after the runtime)."""
        if self._as_of is None:
            self._as_of = plant_as_of(self.engine, self.today)
        return self._as_of

    @property
    def policy_hash(self) -> str:
        """Hash of the policy every decision is made under."""
        return self.gate.policy.hash

    def identify(self, user_id: str, trace: Trace, audit: AuditSink) -> User:
        """The policy's user for ``user_id``; an unknown id is refused and only that refusal is logged."""
        try:
            return self.gate.policy.user(user_id)
        except UnknownUser as exc:
            audit.add(trace.event(AuditKind.ERROR, {"error": "unknown_user", "user_id": user_id,
                                                    "rule_id": "gate.unknown_user"}))
            exc.trace_id = trace.trace_id
            raise

    def decide(self, user: User, tool: str, args: Mapping[str, Any], *, trace: Trace,
               audit: AuditSink) -> Decision:
        """Ask the gate about one call and record the decision (with its rule id and scope)."""
        with self.tracing.step("jidoka.gate", {"jidoka.tool": tool}) as span:
            decision = self.gate.decide(user, tool, args)
            span.set_many({"jidoka.effect": decision.effect.value, "jidoka.rule_id": decision.rule_id})
            audit.add(trace.event(AuditKind.GATE_DECISION, {
                "tool": tool, "args": dict(args), "effect": decision.effect.value, "rule_id": decision.rule_id,
                "reason": decision.reason, "scope": decision.scope.describe(),
            }))
        return decision

    def execute(self, decision: Decision, args: Mapping[str, Any], *, trace: Trace,
                audit: AuditSink) -> ToolOutcome:
        """Run the call ``decision`` allowed, inside the decision's scope; anything else becomes a refusal."""
        tool = decision.tool
        if decision.effect is not Effect.ALLOW:
            status: Literal["denied", "needs_approval"] = (
                "needs_approval" if decision.effect is Effect.NEEDS_APPROVAL else "denied")
            return ToolOutcome(decision, None, Refusal(status=status, tool=tool, rule_id=decision.rule_id,
                                                       reason=decision.reason))
        with self.tracing.step("jidoka.tool", {"jidoka.tool": tool}) as span:
            outcome = self._run(decision, args, trace=trace, audit=audit)
            result = outcome.result
            span.set_many({"jidoka.status": outcome.refusal.status if outcome.refusal is not None else
                           result.status if result is not None else None,
                           "jidoka.record_count": len(result.record_ids) if result is not None else None,
                           "jidoka.findings": len(outcome.findings)})
        return outcome

    def _run(self, decision: Decision, args: Mapping[str, Any], *, trace: Trace, audit: AuditSink) -> ToolOutcome:
        """Run the allowed call in the decision's scope: the result screened, or the refusal of a failed run."""
        tool = decision.tool
        spec = self.catalog.get(tool)
        policy = self.gate.policy
        user = policy.users.get(decision.user_id)
        roles = user.roles if user is not None else frozenset()
        # Document tools filter by the caller's roles and the data domains those roles grant.
        domains = frozenset(d for r in roles if r in policy.roles for d in policy.roles[r].domains)
        context = ToolContext(engine=self.engine, scope=decision.scope, today=self.today, as_of=self.as_of(),
                              knowledge=self.knowledge, roles=frozenset(roles), domains=domains)
        try:
            result = spec.invoke(context, dict(args))
        except ArgumentError as exc:
            audit.add(trace.event(AuditKind.ERROR, {"tool": tool, "error": "invalid_arguments",
                                                    "field": exc.field, "message": exc.message}))
            return ToolOutcome(decision, None, Refusal(status="invalid_arguments", tool=tool,
                                                       rule_id="tool.arguments", reason=str(exc)))
        except ServiceUnavailable as exc:
            audit.add(trace.event(AuditKind.ERROR, {"tool": tool, "error": "unavailable", "message": exc.detail}))
            return ToolOutcome(decision, None, Refusal(status="unavailable", tool=tool,
                                                       rule_id="tool.unavailable", reason=str(exc)))
        ids = result.record_ids
        audit.add(trace.event(AuditKind.TOOL_RESULT, {
            "tool": tool, "status": result.status, "record_count": len(ids),
            "record_ids": ids[:MAX_AUDITED_IDS], "record_ids_truncated": len(ids) > MAX_AUDITED_IDS,
            "as_of": result.as_of.isoformat(),
        }))
        # Free text from the plant is data, never instructions: neutralize and wrap it before the model sees it.
        screened = screen_and_spotlight(tool, result.model_dump(mode="json"), self.gate.policy.screening)
        if screened.findings:
            audit.add(trace.event(AuditKind.SCREENING, {
                "stage": "data", "tool": tool,
                "findings": [{"path": f.path, "rule_id": f.finding.rule_id, "family": f.finding.family}
                             for f in screened.findings],
            }))
        return ToolOutcome(decision, result, None, screened.as_object(), screened.findings)

    def call(self, user: User, tool: str, args: Mapping[str, Any], *, trace: Trace, audit: AuditSink) -> ToolOutcome:
        """Decide and (if allowed) run ``tool`` for ``user``; every step is added to ``audit``."""
        decision = self.decide(user, tool, args, trace=trace, audit=audit)
        return self.execute(decision, args, trace=trace, audit=audit)
