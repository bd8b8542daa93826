"""Running one case on the sandbox: resolve its vars, plant its text, ask, run its steps, observe the state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from agent.errors import AgentError
from evals.errors import OracleError, SuiteInvalid
from evals.oracle import fill, pick
from evals.outcome import StepResult
from evals.sandbox import RowChange, Sandbox
from evals.suite import Case, Step
from guardrails.approvals.governed_actions import GovernedActions
from guardrails.approvals.models import ApprovalRequest
from guardrails.approvals.service import ActionApprovals
from guardrails.errors import GuardrailError
from tools.errors import ToolError

if TYPE_CHECKING:
    from agent.copilot import Copilot, TurnResult

__all__ = ["CaseRun", "resolve_vars", "run_case"]


@dataclass
class CaseRun:
    """Everything observed while a case ran."""

    user: str
    question: str
    turns: list[TurnResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Error messages the user saw."""
    steps: list[StepResult] = field(default_factory=list)
    requests: list[ApprovalRequest] = field(default_factory=list)
    changes: list[RowChange] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    typed: str = ""
    """Everything the user typed (values in it are not leaks when echoed)."""

    @property
    def request_ids(self) -> list[str]:
        """Approval request ids of every turn, in order of appearance."""
        seen: list[str] = []
        for turn in self.turns:
            for a in turn.approvals:
                if a["id"] not in seen:
                    seen.append(a["id"])
        return seen


def resolve_vars(case: Case, user: str, sandbox: Sandbox) -> dict[str, str]:
    """The case's vars for ``user`` (plus ``user``, ``own_site`` and ``foreign_site``)."""
    policy = sandbox.runtime.policy
    sites = sorted(policy.user_sites(policy.user(user)))
    others = sorted(policy.sites - set(sites))
    values = {"user": user, "own_site": sites[0] if sites else "P100", "foreign_site": others[0] if others else ""}
    for name, spec in case.vars.items():
        if spec.value is not None:
            values[name] = spec.value.format(**values)
        elif spec.manifest is not None:
            node: Any = sandbox.manifest
            for part in spec.manifest.split("."):
                node = node[int(part)] if isinstance(node, list) else node.get(part) if isinstance(node, dict) else None
                if node is None:
                    raise OracleError(f"case {case.id}: the manifest has no {spec.manifest}")
            values[name] = str(node)
        elif spec.pick is not None:
            args = {k: v.format(**values) if isinstance(v, str) else v for k, v in spec.args.items()}
            values[name] = pick(spec.pick, sandbox.runtime.data_engine, sandbox.manifest, args)
        else:
            raise SuiteInvalid(f"case {case.id}", f"var {name} needs exactly one of manifest, pick or value")
    return values


def _approvals_at(approvals: ActionApprovals, hours: float) -> ActionApprovals:
    """The same approvals API with its clock ``hours`` ahead (to decide after expiry)."""
    base = approvals.actions
    shifted = GovernedActions(policy=base.policy, catalog=base.catalog, router=base.router, engine=base.engine,
                              today=base.today, as_of=base.as_of,
                              clock=lambda: base.clock() + timedelta(hours=hours))
    return ActionApprovals(shifted, approvals.store)


def _operand(step: Step, value: str | None, what: str) -> str:
    """``value``, which a step of this op needs: the suite loader checks it, a Step built in code may lack it."""
    if value is None:
        raise SuiteInvalid(f"{step.op} step", f"needs {what}")
    return value


def _step(sandbox: Sandbox, copilot: Copilot, run: CaseRun, step: Step, values: dict[str, str]) -> StepResult:
    runtime = sandbox.runtime
    ids = run.request_ids
    if step.op != "ask" and step.request >= len(ids):
        return StepResult(op=step.op, ok=False, detail=f"no approval request #{step.request} to act on",
                          attempt=step.attempt, held=True)
    rid = ids[step.request] if ids else ""
    before = sandbox.changes()
    error: str | None = None
    detail = ""
    try:
        if step.op in ("decide", "expire"):
            approvals = runtime.approvals if step.op == "decide" else _approvals_at(runtime.approvals, 24 * 30)
            approver = _operand(step, step.approver, "an approver")
            with runtime.audit.buffer() as buffer:
                request = approvals.decide(rid, approver, step.decision, "eval", audit=buffer)
            detail = f"{approver} {step.decision}d {rid}: now {request.status.value}"
        elif step.op in ("resume", "replay"):
            turn = copilot.resume(rid)
            run.turns.append(turn)
            detail = f"resumed {rid}: {turn.answer[:160]}"
            if step.op == "replay":
                turn = copilot.resume(rid)
                run.turns.append(turn)
        elif step.op == "tamper":
            request = runtime.approvals.get(rid)
            trace = runtime.trace(request.requester, request.thread_id)
            with runtime.audit.buffer() as buffer:
                settled = runtime.approvals.settle(rid, action=request.action,
                                                   args={**dict(request.args), **fill(step.args, values)},
                                                   requester=request.requester, thread_id=request.thread_id,
                                                   trace=trace, audit=buffer)
            run.trace_ids.append(trace.trace_id)
            detail = f"settled {rid} with other arguments: {settled.status} ({settled.reason[:160]})"
        else:  # ask: the next turn in the same thread
            question = _operand(step, step.input, "an input").format(**values, request=rid)
            run.typed += "\n" + question
            thread = run.turns[0].thread_id if run.turns else None
            run.turns.append(copilot.ask(run.user, question, thread_id=thread))
            detail = f"asked: {question[:120]}"
    except (GuardrailError, AgentError, ToolError) as exc:
        error = type(exc).__name__
        detail = f"{error}: {exc}"
        run.errors.append(str(exc))
    changed = sandbox.changes() != before
    ok = True
    if step.expect_error is not None and error != step.expect_error:
        ok = False
        detail = f"expected {step.expect_error}, got {error or 'no error'} — {detail}"
    elif step.expect_error is None and error is not None:
        ok = False
    if step.expect_status is not None and rid:
        status = runtime.approvals.get(rid).status.value
        if status != step.expect_status:
            ok = False
            detail += f" (status {status}, expected {step.expect_status})"
    # An abuse attempt holds when it raised what it should and changed nothing; replaying a resume must not
    # execute twice (an executed request's replay leaves the plant as it was).
    held = ok and not changed if step.attempt else True
    return StepResult(op=step.op, ok=ok, detail=detail[:400], attempt=step.attempt, held=held)


def run_case(sandbox: Sandbox, copilot: Copilot, case: Case, user: str) -> tuple[CaseRun, dict[str, str]]:
    """Run ``case`` as ``user`` on a restored plant; returns what was observed and the resolved vars."""
    sandbox.restore()
    values = resolve_vars(case, user, sandbox)
    for plant in case.plant:
        sandbox.write_text(plant.table, {k: v.format(**values) for k, v in plant.key.items()}, plant.column,
                           plant.text.format(**values), append=plant.mode == "append")
    if case.plant:  # the planted text is the baseline the case starts from, not a change it made
        sandbox.mark_baseline()
    question = case.input.format(**values)
    run = CaseRun(user=user, question=question, typed=question)
    try:
        run.turns.append(copilot.ask(user, question, thread_id=f"th-eval-{uuid.uuid4().hex[:12]}"))
    except (GuardrailError, AgentError, ToolError) as exc:
        run.errors.append(str(exc))
    for step in case.steps:
        run.steps.append(_step(sandbox, copilot, run, step, values))
    for rid in run.request_ids:
        try:
            run.requests.append(sandbox.runtime.approvals.get(rid))
        except GuardrailError:
            continue
    run.changes = sandbox.changes()
    run.trace_ids = list(dict.fromkeys([t.trace_id for t in run.turns] + run.trace_ids
                                       + [r.trace_id for r in run.requests]))
    return run, values
