"""Requests completed over two turns: the model asked which record (or which date) a request was about, and the
next message gives it ("retén el lote porfa" → "¿qué lote …?" → "el LOT-P200-0317, vienen con rebaba").

The answer alone often reads as a question of its own (a lot and a defect look like a quality-events read), so
it is first read together with the request it completes; when the two make a complete request, that is the
turn. Its reason is the answer's words (the first message said only what to do)."""

from __future__ import annotations

import re
from dataclasses import replace

from agent.rules.dialogue import DialogueState, Understood, is_clarification, pending_of
from agent.rules.planner import Analysis, Plan, PlannedCall, Planner, ToolPlan, UserContext
from agent.rules.procedures import SEARCH_TOOL, procedure_args
from agent.rules.request_words import request_words
from agent.rules.requests import own_words

__all__ = ["complete_request", "on_previous_po", "on_previous_search", "on_previous_supplier", "with_previous_supplier",
           "with_reason"]


def _actions(plan: object) -> tuple[PlannedCall, ...]:
    verbs = request_words().verbs
    return tuple(c for c in plan.calls if c.name in verbs) if isinstance(plan, ToolPlan) else ()


def complete_request(planner: Planner, question: str, ctx: UserContext, state: DialogueState) -> Understood | None:
    """The request the last turn asked a detail of, completed by ``question`` (read in English), or ``None`` when
    the last turn asked nothing of a request, or the two together still make no complete request."""
    last = state.last
    if last is None or last.understood.pending is not None or not is_clarification(last.understood.plan):
        return None
    analysis = last.understood.analysis
    if analysis is not None and analysis.intent is not None:
        return None  # a read's clarifying question: its pending record completes it (references.complete)
    first = planner.resolver.read(last.question).text
    if not planner.is_request(last.question) or _actions(planner.plan(question, ctx, ())):
        return None  # the first message made no request, or the answer is a complete request on its own
    plan = planner.plan(f"{first.rstrip(' .!?')}. {question}", ctx, ())
    calls = _actions(plan)
    if not calls or not isinstance(plan, ToolPlan):
        return None
    plan = with_reason(plan, own_words(question, calls[0].name, planner.is_request))
    return Understood(plan, "clarified", pending=pending_of(plan))


def with_reason(plan: Plan, reason: str) -> Plan:
    """``plan`` with ``reason`` as each action call's reason (a maintenance order's description); unchanged when
    ``reason`` is empty or the plan proposes no action."""
    if not reason or not isinstance(plan, ToolPlan):
        return plan
    verbs = request_words().verbs
    calls = []
    for call in plan.calls:
        key = "description" if call.name == "create_maintenance_order" else "reason"
        calls.append(PlannedCall(call.name, {**call.args, key: reason}) if call.name in verbs and key in call.args
                     else call)
    return replace(plan, calls=tuple(calls))


_LINE_ALONE = re.compile(r"\b(?<!/)line (\d{1,3})\b(?!\s*(?:of|from)\s+po)")


def _previous_po(state: DialogueState) -> str | None:
    """The one PO the last turn was about (asked by id, or the only one it returned)."""
    last = state.last
    if last is None:
        return None
    asked = {str(c.args["po_id"]) for c in last.calls if c.args.get("po_id")}
    found = asked or set(last.records.get("po", ()))
    return next(iter(found)) if len(found) == 1 else None


def on_previous_po(planner: Planner, question: str, ctx: UserContext, state: DialogueState) -> Understood | None:
    """A change of 'line 1' right after a turn about one PO ('¿qué trae el PO-24297?' → 'pídele que adelante la
    línea 1 al 2026-03-03'): the line is that PO's. ``None`` when the question names a PO itself, names no line,
    or is no request once the PO is added."""
    if planner.resolver.extract(question, ctx.today, ctx.sites).ids.get("po") or not _LINE_ALONE.search(question):
        return None
    po = _previous_po(state)
    if po is None:
        return None
    plan = planner.plan(_LINE_ALONE.sub(lambda m: f"{po} line {m.group(1)}", question, count=1), ctx, ())
    return Understood(plan, "entity") if _actions(plan) else None


_THEY = re.compile(r"\b(?:they|them|their|theirs)\b")
_THEM = re.compile(r"\b(?:with|to|from|ask|tell|for|on|about|against)\s+them\b")
"""'them' as a request's party ('open a review with them'); 'their film' in its reason is not the supplier."""


def _one_supplier(state: DialogueState) -> str | None:
    """The one supplier the last turn was about: named by it, or else the only one it returned ('who's the
    supplier on the biggest one?' then 'how's their on-time record?': read from its results or answer, data
    resolved again by the plan)."""
    last = state.last
    analysis = last.understood.analysis if last is not None else None
    suppliers = analysis.entities.ids.get("supplier", ()) if analysis is not None else ()
    if not suppliers and last is not None:
        suppliers = last.records.get("supplier", ())
    return suppliers[0] if len(suppliers) == 1 else None


def with_previous_supplier(planner: Planner, question: str, state: DialogueState) -> str:
    """A request's 'them' / 'their' as the one supplier of the last turn ('open a supplier review with them, link
    that lot' after that supplier's scorecard); ``question`` unchanged when it is no request, has no such pronoun,
    or the last turn was not about one supplier."""
    supplier = _one_supplier(state)
    if supplier is None or not _THEM.search(question) or not planner.is_request(question):
        return question
    return _THEM.sub(lambda m: f"{m.group(0)[:-4]}supplier {supplier}", question, count=1)


def on_previous_supplier(planner: Planner, question: str, ctx: UserContext, state: DialogueState
                         ) -> Understood | None:
    """'How have they done on deliveries?' right after a turn about one supplier: 'they' is that supplier (the
    question alone names no supplier, so no supplier intent reads it). ``None`` when the question is understood
    alone, has no such pronoun, or the last turn was not about (or did not return) exactly one supplier."""
    supplier = _one_supplier(state)
    if supplier is None or not _THEY.search(question):
        return None
    alone = planner.plan(question, ctx, ())
    if isinstance(alone, ToolPlan):
        return None
    plan = planner.plan(_THEY.sub(f"supplier {supplier}", question), ctx, ())
    if not isinstance(plan, ToolPlan):
        return None
    # An intent the question alone reads but cannot call ('their on-time record' as a line's record, refused)
    # gives way only to a plan that calls on the supplier.
    understood = alone.analysis is not None and alone.analysis.intent is not None
    if understood and not any(c.args.get("supplier_id") == supplier for c in plan.calls):
        return None
    return Understood(plan, "reference")


_SHORT_FOLLOW_UP = 16
"""Words a follow-up of a document search may have ('thanks - and the one for releasing it again?')."""


def on_previous_search(planner: Planner, question: str, ctx: UserContext, state: DialogueState
                       ) -> Understood | None:
    """'and the one for releasing it again?' right after a document search: another search on the same subject
    (the follow-up's words, with the previous query's for context). ``None`` when the last turn searched no
    documents, the tool is not offered, or the question is understood alone."""
    last = state.last
    searched = [c for c in last.calls if c.name == SEARCH_TOOL] if last is not None else []
    if not searched or SEARCH_TOOL not in ctx.tools or len(question.split()) > _SHORT_FOLLOW_UP:
        return None
    alone = planner.plan(question, ctx, ())
    if isinstance(alone, ToolPlan) and alone.calls:
        return None
    before = str(searched[0].args.get("query") or "")
    args = procedure_args(f"{question.strip()} ({before})" if before else question)
    entities = planner.resolver.extract(question, ctx.today, ctx.sites)
    return Understood(ToolPlan(Analysis(None, entities), (PlannedCall(SEARCH_TOOL, args),)), "topic")
