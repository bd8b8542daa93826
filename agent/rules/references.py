"""Follow-ups that point at one record of an earlier turn, and answers to a clarifying question.

"put it on hold", "who supplies that one?", "trace the second one": the words are replaced by a record's id and
the question is planned as if it had named it. Candidates, most likely first: the previous result's single
record, the records the previous question named, then the previous result's records by kind (ids read from the
results or the answer: data, never instructions). Every candidate's trial plan must use the record; the one whose
intent the question's own words fit best wins, a single record before a list of several. When the winner is a
list ('it' after three lots) the model asks which one, naming them, and the next turn's answer ("the second
one", "LOT-P100-0424") completes the question.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from agent.rules.actions import reason_tail
from agent.rules.completion import with_reason
from agent.rules.dialogue import DialogueState, Exchange, Pending, Understood, pending_of
from agent.rules.entities import Entities
from agent.rules.follow_up_rules import FollowUpRules, Reference
from agent.rules.intents import PLACEHOLDERS, Intent
from agent.rules.planner import Analysis, Plan, Planner, Reply, ToolPlan, UserContext
from agent.rules.pointers import Pointers
from agent.rules.procedures import SEARCH_TOOL
from agent.rules.requests import answer_reason
from agent.rules.text import fold

__all__ = ["References"]

_ACTION_FIT = 10.0
"""How well an action request fits a record it names: above any intent's own words."""
_MAX_NAMED = 8
"""Records a 'which one do you mean?' names."""
_VAGUE_WORDS = 7
"""Longest first question read as pointing at an unnamed record ('can you check the order?'); a longer one
mentions 'the line' or 'the supplier' in passing."""
_NOT_RECORDS = frozenset(("site", "period", "defect", "reason", "parameter"))
LOOK_BACK = 3
"""Turns a reference of a named kind ('that supplier') may reach back."""


@dataclass(frozen=True)
class _Fit:
    kind: str
    ids: tuple[str, ...]
    plan: Plan
    strength: float


class References:
    """Resolves references to earlier records and answers to clarifying questions."""

    def __init__(self, planner: Planner, rules: FollowUpRules) -> None:
        self.planner = planner
        self.rules = rules
        lexicon = planner.resolver.lexicon

        def describe(record_id: str) -> str:
            item = lexicon.item(record_id)
            supplier = lexicon.supplier(record_id) if item is None else None
            asset = lexicon.asset(record_id) if item is None and supplier is None else None
            named = item.description if item else supplier.name if supplier else asset.name if asset else ""
            return named
        self.pointers = Pointers(rules, rules.pointer_words, describe)

    # ------------------------------------------------------------------ answering a clarifying question
    def complete(self, pending: Pending, question: str, entities: Entities, ctx: UserContext) -> Understood | None:
        """The question ``pending`` asked about, completed with the record ``question`` chooses (``None`` when it
        chooses none, or is a question of its own)."""
        if self.planner.catalogue.match(entities.stems) is not None:
            return None  # a question of its own, not the answer to ours
        chosen = self._chosen(pending, question, entities)
        if chosen is None:
            return None
        if pending.template:
            asked = pending.template.format(ref=chosen)
            said = answer_reason(question, chosen, lambda s: self.rules.ordinal_index(s) is not None)
            reason = "; ".join(p for p in (reason_tail(asked), said) if p)
            plan = with_reason(self.planner.plan(asked, ctx, ()), reason)
            return Understood(plan, "clarified", pending=pending_of(plan))
        analysis = pending.analysis
        if analysis is None or analysis.intent is None:
            return None
        kind = next((k for k in pending.kinds if chosen in entities.ids.get(k, ()) or chosen in pending.candidates),
                    pending.kinds[0])
        completed = replace(analysis.entities, ids={**analysis.entities.ids, kind: (chosen,)},
                            ambiguities=tuple(a for a in analysis.entities.ambiguities if a.kind != kind))
        plan = self.planner.plan_analysis(Analysis(analysis.intent, completed), ctx)
        return Understood(plan, "clarified", pending=pending_of(plan))

    def _chosen(self, pending: Pending, question: str, entities: Entities) -> str | None:
        named = [i for kind in pending.kinds for i in entities.ids.get(kind, ())]
        if not pending.candidates:
            return named[0] if named else None
        picked = [i for i in named if i in pending.candidates]
        if picked:
            return picked[0]
        at = [c for c in pending.candidates if any(f"{s}-" in c for s in entities.ids.get("site", ()))]
        if len(at) == 1:
            return at[0]  # "Monterrey's" for the packaging line of P100 or P200
        tokens = set(fold(question).replace("/", " ").split())
        tails = [c for c in pending.candidates if c.split("-")[-1] in tokens or c.lower() in tokens]
        if len(tails) == 1:
            return tails[0]  # '0424' for LOT-P100-0424
        ordinal = self.rules.ordinal_index(question)
        if ordinal is not None and -len(pending.candidates) <= ordinal < len(pending.candidates):
            return pending.candidates[ordinal]
        return None

    # ------------------------------------------------------------------ a first question about 'the order'
    def unnamed(self, question: str, plan: Plan) -> Understood | None:
        """A thread's first question that points at one record it never names ('can you check the order?',
        'push the PO out a week'): which one, asked rather than answered over every record; the answer (an id)
        completes the question. ``None`` when it names the record or points at none."""
        text = self.planner.resolver.read(question).text
        reference = self.rules.reference(text)
        if (reference is None or not reference.kinds or reference.index is not None
                or len(text.split()) > _VAGUE_WORDS or (isinstance(plan, Reply) and plan.kind == "clarify")):
            return None
        named = plan.analysis.entities.ids if plan.analysis is not None else {}
        if any(ids for kind, ids in named.items() if kind not in _NOT_RECORDS):
            return None  # 'the order book for Texas Process Equipment': it names what it is about
        what = self.rules.kind_names.get(reference.kinds[0], reference.kinds[0])
        return Understood(Reply("clarify", f"Which {what} do you mean (please give its id)?"), "reference",
                          pending=Pending(reference.kinds, (), template=reference.template()))

    # ------------------------------------------------------------------ one record of an earlier turn
    def refer(self, question: str, ctx: UserContext, state: DialogueState) -> Understood | None:
        """``question`` with its 'it' / 'that lot' / 'the second one' resolved (``None`` when it has none, needs
        none, or nothing earlier fits)."""
        reference = self.rules.reference(question)
        if reference is None or self._stands_alone(question, ctx):
            return None
        groups: list[tuple[str, tuple[str, ...]]] = []
        for exchange in reversed(state.exchanges[-LOOK_BACK:]):
            if not exchange.answered:
                continue  # a question not understood, or 'which one?' left unanswered: 'it' is older
            groups = self._referents(reference, exchange)
            if groups or not reference.kinds:
                break  # 'it' is the last answer's; 'that supplier' may be named a few turns back
        # One record (the result's only one, or one the previous question named) before a list of several:
        # 'it' after 'stock of RM-3001' is the item, unless only one of its lots fits ('put it on hold').
        best: _Fit | None = None
        for tier in ([g for g in groups if len(g[1]) == 1], [g for g in groups if len(g[1]) > 1]):
            for kind, ids in tier:
                trial = self.planner.plan(reference.put(ids[0]), ctx, ())
                strength = _fit(trial, ids[0])
                if strength is not None and (best is None or strength > best.strength):
                    best = _Fit(kind, ids, trial, strength)
            if best is not None:
                break
        if best is None:
            return None
        if len(best.ids) == 1:
            resolved = self.also(reference.put(best.ids[0]), best.kind, state)
            trial = best.plan if resolved == reference.put(best.ids[0]) else self.planner.plan(resolved, ctx, ())
            plan = self._in_site(trial if _fit(trial, best.ids[0]) is not None else best.plan, best.ids[0],
                                 resolved, question, ctx, state)
            return Understood(plan, "reference", pending=pending_of(plan))
        what = self.rules.kind_names.get(best.kind, best.kind)
        named = best.ids[:_MAX_NAMED]
        listed = ", ".join(named[:-1]) + f" or {named[-1]}"
        others = f" (or another of the {len(best.ids)})" if len(best.ids) > _MAX_NAMED else ""
        text = f"That could be several {what}s of my last answer. Which one do you mean: {listed}{others}?"
        return Understood(Reply("clarify", text), "reference",
                          pending=Pending((best.kind,), best.ids, template=reference.template()))

    def pointed(self, question: str, ctx: UserContext, state: DialogueState) -> Understood | None:
        """``question`` with 'the biggest one' / 'the spindle one' / 'the item on SO-30114' replaced by the one
        record of a recent answered turn it points at (``None`` when it points at none, or the plan with the
        record does not use it). Read before anything else: 'the item on SO-30114' names the order only to
        point at its item. A pointer may point through another ('the item on the biggest one')."""
        record, resolved, last = "", question, None
        for _ in range(2):
            # The last answered turn that lists the record pointed at ('the item on SO-30114' may reach back
            # over a turn that listed nothing).
            found = next((p for e in reversed(state.exchanges[-LOOK_BACK:]) if e.answered
                          and (p := self.pointers.point(resolved, e)) is not None), None)
            if found is None:
                break
            last, record, resolved = found, found.record, found.reference.put(found.record)
        if not record or last is None:
            return None
        # The row's own record, or another of that row the question's words fit better ('where is it?': its lot).
        best: tuple[float, Plan] | None = None
        for candidate in (record, *last.others):
            plan = self.planner.plan(last.reference.put(candidate) if candidate != record else resolved, ctx, ())
            strength = _fit(plan, candidate)
            if strength is not None and (best is None or strength > best[0]):
                best = (strength, plan)
        return Understood(best[1], "reference", pending=pending_of(best[1])) if best is not None else None

    def _in_site(self, plan: Plan, record: str, resolved: str, question: str, ctx: UserContext,
                 state: DialogueState) -> Plan:
        """``plan`` kept at the one site the previous question scoped ``record`` to when the question names none
        ('how much of CP-2039 at Aurora?' then 'how does it look over the next 4 weeks?': still at Aurora). A
        record read from the previous answer's rows is not scoped by it."""
        last = state.last
        before = last.understood.analysis if last is not None else None
        if before is None or not any(record in ids for ids in before.entities.ids.values()):
            return plan
        if not isinstance(plan, ToolPlan) or plan.analysis.intent is None or (
                plan.analysis.intent.name not in self.rules.keep_site):
            return plan
        sites = before.entities.ids.get("site", ())
        if ctx.sites is not None:
            sites = tuple(s for s in sites if s in ctx.sites)  # a site the gate refused is not kept
        if not isinstance(plan, ToolPlan) or len(sites) != 1 or plan.analysis.entities.ids.get("site") or any(
                "site_id" in c.args or "line_id" in c.args for c in plan.calls):
            return plan
        own = self.planner.resolver.extract(question, ctx.today, ctx.sites)
        if own.ids.get("site") or "here" in fold(question).split():
            return plan  # 'here' is the asker's own plant, not the one asked about before
        scoped = self.planner.plan(f"{resolved} at {sites[0]}", ctx, ())
        if not isinstance(scoped, ToolPlan) or [c.name for c in scoped.calls] != [c.name for c in plan.calls]:
            return plan
        return scoped if any(c.args.get("site_id") == sites[0] for c in scoped.calls) else plan

    def also(self, text: str, kind: str, state: DialogueState) -> str:
        """``text`` (a reference to a ``kind`` resolved) with a second one of another kind resolved too, when a
        recent answered turn has exactly one record of that kind ('open a review with that supplier for the
        lot', 'link that lot')."""
        second = self.rules.reference(text)
        if second is None or not second.kinds or kind in second.kinds:
            return text
        for exchange in reversed(state.exchanges[-LOOK_BACK:]):
            if not exchange.answered:
                continue
            ids = next((ids for _, ids in self._referents(second, exchange)), ())
            if ids:
                return second.put(ids[0]) if len(ids) == 1 else text
        return text

    def _stands_alone(self, question: str, ctx: UserContext) -> bool:
        """True when ``question`` is complete without the earlier turns: it asks for calls on records it names
        ('which POs that are late come from S-001?' has a 'that' but needs nothing earlier)."""
        plan = self.planner.plan(question, ctx, ())
        if not isinstance(plan, ToolPlan) or not plan.calls:
            return False
        named = {k for k, v in plan.analysis.entities.ids.items() if v}
        return bool(named & (set(self.rules.record_kinds) | {"line"}))

    def _referents(self, reference: Reference, exchange: Exchange) -> list[tuple[str, tuple[str, ...]]]:
        """Candidate records of ``exchange``, most likely first: (kind, ids) groups of the kinds allowed."""
        records = exchange.records
        subject = next((self.rules.subjects[c.name] for c in exchange.calls if c.name in self.rules.subjects), None)
        analysis = exchange.understood.analysis
        named = analysis.entities.ids if analysis is not None else {}
        groups: list[tuple[str, tuple[str, ...]]] = []
        if reference.index is None:
            if subject and len(records.get(subject, ())) == 1:
                groups.append((subject, records[subject]))
            groups += [(k, tuple(named[k])) for k in [*self.rules.record_kinds, "line"] if named.get(k)]
        groups += [(k, records[k]) for k in [*([subject] if subject else []), *records] if records.get(k)]
        if reference.index is not None:  # 'the second one': that entry of each list
            groups = [(kind, (ids[reference.index],)) for kind, ids in groups
                      if -len(ids) <= reference.index < len(ids)]
        return [(k, ids) for k, ids in dict.fromkeys(groups) if not reference.kinds or k in reference.kinds]


def _fit(plan: Plan, record_id: str) -> float | None:
    """How well ``plan`` (for the question with ``record_id`` in it) reads: ``None`` when it does not use it."""
    if not isinstance(plan, ToolPlan) or not plan.calls:
        if isinstance(plan, Reply) and plan.kind == "no_access" and plan.analysis is not None:
            used = any(record_id in ids for ids in plan.analysis.entities.ids.values())
            return 0.0 if used else None  # understood, and the gate's answer is right
        return None
    args = json.dumps([c.args for c in plan.calls], default=str)
    if record_id not in args and record_id.split("/")[0] not in args:
        return None
    intent = plan.analysis.intent
    if intent is None:
        return _ACTION_FIT if any(c.name != SEARCH_TOOL for c in plan.calls) else 0.0
    return _own_words(intent, plan.analysis.entities.stems)


def _own_words(intent: Intent, stems: Sequence[str]) -> float:
    """``intent``'s score on ``stems`` from its words alone (the cues that are only an entity left out)."""
    present = frozenset(stems)
    score = intent.score(stems, present)
    if score is None:
        return 0.0
    for cue, weight in intent.cues:
        if all(e is not None and e <= PLACEHOLDERS for e in cue.elements) and cue.matches(stems, present):
            score -= weight
    return score
