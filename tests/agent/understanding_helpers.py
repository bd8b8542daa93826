"""Scoring the question-understanding sets: each conversation runs as one thread through the real copilot (the
configured rules model, the gate, the tools, the approval flow), and every turn is judged on its state — the tool
calls and their decisions, the approval request it proposed, the facts the SQL oracle derives — never on wording."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.copilot import Copilot, TurnResult
from agent.errors import ThreadAwaitingApproval
from guardrails.approvals.service import ActionApprovals
from guardrails.audit.log import AuditKind, AuditLog
from guardrails.policy.loader import Policy
from tests.agent.oracle import ORACLES, OracleContext

__all__ = ["DATA", "TurnOutcome", "dev_floor", "load_conversations", "report", "run_conversation"]

DATA = Path(__file__).parent / "data"
CLARIFY_MARKS = ("?", "¿")


@dataclass(frozen=True)
class TurnOutcome:
    """One turn's verdict."""

    conversation: str
    turn: int
    part: str
    intent: str
    style: str
    lang: str
    ok: bool
    why: str
    asked_clarification: bool
    """The answer was a clarifying question (counts as wrong when the turn was unambiguous)."""


def load_conversations(name: str) -> list[dict[str, Any]]:
    """The conversations of ``tests/agent/data/<name>.yaml``."""
    data = yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    return list(data["conversations"])


def dev_floor(name: str) -> float:
    """The accuracy floor a development set declares (``floor:`` at its top; a ratchet like the held-out one)."""
    data = yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    return float(data["floor"])


def _args_cover(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    return all(_same(actual.get(key), value) for key, value in expected.items())


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, list) and isinstance(actual, list):
        return sorted(map(str, expected)) == sorted(map(str, actual))
    if isinstance(expected, int | float) and isinstance(actual, int | float) and not isinstance(expected, bool):
        return float(actual) == float(expected)
    return bool(actual == expected)


def _clarifying(result: TurnResult) -> bool:
    allowed = [c for c in result.tool_calls if c.get("decision") == "allow"]
    return not allowed and not result.approvals and result.answer.rstrip().endswith(CLARIFY_MARKS)


def _found_anything(result: TurnResult, audit: AuditLog | None) -> bool:
    """Whether an allowed call of the turn returned data: a record outside the caller's sites reads as not found
    (no existence oracle), which refuses as much as a gate refusal does."""
    if audit is None:
        return True
    statuses = [e.payload.get("status") for e in audit.by_trace(result.trace_id) if e.kind == AuditKind.TOOL_RESULT]
    return any(status != "not_found" for status in statuses)


def _judge(turn: Mapping[str, Any], result: TurnResult, approvals: ActionApprovals | None, ctx: OracleContext,
           audit: AuditLog | None = None) -> str | None:
    """Why the turn is wrong, or ``None``."""
    calls = result.tool_calls
    if turn.get("clarify"):
        return None if _clarifying(result) else f"expected a clarifying question, got {_calls(calls)}"
    if _clarifying(result):
        return f"asked a clarifying question on an unambiguous turn: {result.answer[:160]!r}"
    if turn.get("refused"):
        served = [c for c in calls if c.get("decision") == "allow"]
        if served and _found_anything(result, audit):
            return f"expected a refusal, but {_calls(served)} were served"
        expected = turn.get("tools") or []
        missing = [e["name"] for e in expected if not any(c["name"] == e["name"] for c in calls)]
        return f"the refused call {missing} was never asked for" if missing else None
    for exp in turn.get("tools") or []:
        if not any(c["name"] == exp["name"] and c.get("decision") == "allow"
                   and _args_cover(c.get("args") or {}, exp.get("args") or {}) for c in calls):
            return f"expected {exp['name']}({exp.get('args') or {}}), got {_calls(calls)}"
    action = turn.get("action")
    if action is not None:
        problem = _judge_action(action, turn.get("reason_contains"), result, approvals)
        if problem:
            return problem
    oracle = turn.get("oracle")
    if oracle is not None:
        spec = dict(oracle)
        facts = ORACLES[spec.pop("fn")](ctx, **spec)
        missing = [f"{f.kind}:{f.value}" for f in facts if not f.found_in(result.answer)]
        if missing:
            return f"answer lacks {missing}: {result.answer[:240]!r}"
    return None


def _judge_action(action: Mapping[str, Any], reason: str | None, result: TurnResult,
                  approvals: ActionApprovals | None) -> str | None:
    proposed = [a for a in result.approvals if a.get("action") == action["name"]]
    # The plant's state may refuse a request the model understood (a precondition such as the line constraint of
    # a reallocation): understanding is the call it made, so such a call is judged by its arguments.
    refused = [c for c in result.tool_calls
               if c["name"] == action["name"] and c.get("rule_id") == "actions.precondition"]
    if (not proposed or approvals is None) and not refused:
        return f"expected a {action['name']} request, got {result.approvals or 'none'} ({_calls(result.tool_calls)})"
    args: Mapping[str, Any] = (approvals.get(str(proposed[0]["id"])).args if proposed and approvals is not None
                               else refused[0].get("args") or {})
    if not _args_cover(args, action.get("args") or {}):
        return f"{action['name']} args {dict(args)} lack {action.get('args')}"
    if reason:
        text = " ".join(str(args.get(k) or "") for k in ("reason", "description")).lower()
        if reason.lower() not in text:
            return f"the request's reason {text[:160]!r} lacks {reason!r}"
    return None


def _calls(calls: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{c['name']}{dict(c.get('args') or {})}[{c.get('decision')}]" for c in calls) or "no tool"


def run_conversation(copilot: Copilot, policy: Policy, conversation: Mapping[str, Any], part: str,
                     ctx_for: Any) -> list[TurnOutcome]:
    """Run ``conversation`` as one thread; ``ctx_for(user)`` gives the oracle context of the asking user."""
    user_id = str(conversation["user"])
    ctx = ctx_for(policy.user(user_id))
    thread: str | None = None
    outcomes = []
    for index, turn in enumerate(conversation["turns"]):
        try:
            result = copilot.ask(user_id, str(turn["q"]), thread_id=thread)
        except ThreadAwaitingApproval:  # the previous turn's request waits for a person: go on in a new thread
            result = copilot.ask(user_id, str(turn["q"]))
        thread = result.thread_id
        why = _judge(turn, result, copilot.approvals, ctx, copilot.audit)
        outcomes.append(TurnOutcome(
            conversation=str(conversation["id"]), turn=index, part=part, intent=str(turn.get("intent", "?")),
            style=str(turn.get("style") or conversation.get("style") or ""),
            lang=str(conversation.get("lang") or "en"), ok=why is None, why=why or "",
            asked_clarification=_clarifying(result)))
    return outcomes


def report(outcomes: Sequence[TurnOutcome]) -> str:
    """Overall, per part, per intent, per style and per language, then every failure."""
    lines = []

    def rate(chosen: Sequence[TurnOutcome]) -> str:
        right = sum(o.ok for o in chosen)
        return f"{right}/{len(chosen)} = {right / len(chosen):.3f}" if chosen else "0/0"

    for part in sorted({o.part for o in outcomes}):
        lines.append(f"{part}: {rate([o for o in outcomes if o.part == part])}")
    for label, key in (("intent", "intent"), ("style", "style"), ("lang", "lang")):
        groups: dict[str, list[TurnOutcome]] = defaultdict(list)
        for o in outcomes:
            groups[getattr(o, key)].append(o)
        lines.append(f"per {label}: " + ", ".join(f"{k} {sum(o.ok for o in v)}/{len(v)}"
                                                  for k, v in sorted(groups.items())))
    clarified = [o for o in outcomes if o.asked_clarification and not o.ok]
    lines.append(f"clarifying questions on unambiguous turns: {len(clarified)}")
    lines += [f"FAIL {o.part} {o.conversation}#{o.turn} [{o.intent}/{o.style}]: {o.why}" for o in outcomes
              if not o.ok]
    return "\n".join(lines)
