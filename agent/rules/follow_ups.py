"""Follow-up questions: a question understood in the light of the thread's previous turns.

Three ways a question continues the previous one, tried in this order:

1. it answers the clarifying question the previous turn asked ("the second one", "LOT-P100-0412");
2. it points at one record of the previous turn ("put it on hold", "who supplies that one?", "trace it"): see
   :mod:`agent.rules.references` — the record's id takes the words' place; several candidates are asked about;
3. it refines the previous question ("only the overdue ones", "what about Monterrey?", "same for last week",
   "and for RM-3002?", "just the ones over 1,000", "show me the rest"): the previous intent (or the one a filter
   word switches it to) is planned again with the entities merged.

A question with its own intent that does not open like a follow-up is a new question. A follow-up is only ever
a new request of tool calls: it goes through the gate like any other, so it never widens what the user may see.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent.rules.completion import (
    complete_request,
    on_previous_po,
    on_previous_search,
    on_previous_supplier,
    with_previous_supplier,
)
from agent.rules.context_names import narrowed_by_context, settled_by_records
from agent.rules.dialogue import DialogueState, Exchange, Turn, Understood, pending_of
from agent.rules.entities import Entities
from agent.rules.follow_up_rules import FollowUpRules
from agent.rules.intents import PLACEHOLDERS, Intent, IntentMatch
from agent.rules.merging import default_window, merge_entities
from agent.rules.periods import bare_span, earlier_period
from agent.rules.planner import Analysis, Plan, PlannedCall, Planner, ToolPlan, UserContext
from agent.rules.references import LOOK_BACK, References
from agent.rules.request_words import request_words
from agent.rules.requests import own_words
from agent.rules.result_view import RowView
from agent.rules.text import words

__all__ = ["Dialogue"]

_SHOWN = 10
"""Rows an answer lists when the data file does not say (the writers' ``MAX_ROWS``)."""
_CACHE = 256
"""Thread prefixes whose replayed state is remembered (each turn then replays only its newest question)."""


@dataclass(frozen=True)
class _Said:
    """What a question says that makes it a refinement."""

    stems: list[str]
    marked: bool
    threshold: tuple[RowView, bool] | None
    more: bool
    repeat: bool
    own: IntentMatch | None
    """The question's own intent, if it has one."""
    terse: bool
    """Only a few words besides the entities ('any critical?')."""
    subset: bool
    """'which of those ...': it picks among the previous rows."""
    widen: str | None
    """'site' for 'the whole plant', 'all' for 'both plants': the scope grows back (within the gate's)."""


"""A site code inside a record id."""

_UNPLANNED = object()
"""A refinement the turn it refines cannot take (the record its intent needs was dropped)."""


class Dialogue:
    """Understands each question of a thread in the light of the turns before it."""

    def __init__(self, planner: Planner, rules: FollowUpRules | None = None) -> None:
        self.planner = planner
        self.rules = rules or FollowUpRules()
        self.references = References(planner, self.rules)
        self._states: OrderedDict[Hashable, DialogueState] = OrderedDict()

    # ------------------------------------------------------------------ the thread
    def state(self, turns: Sequence[Turn], ctx: UserContext) -> DialogueState:
        """The state after ``turns`` (replayed in order; earlier prefixes of the thread are remembered)."""
        who = (ctx.user_id, ctx.roles, ctx.sites, ctx.today, ctx.as_of, ctx.tools)
        state, key = DialogueState(), tuple[Hashable, ...]()
        for turn in turns:
            key = (*key, turn.question, turn.answer, turn.results,
                   json.dumps([[c.name, c.args] for c in turn.calls], sort_keys=True, default=str))
            cached = self._states.get((who, key))
            if cached is None:
                cached = state.then(turn, self.understand(turn.question, ctx, state))
                self._states[(who, key)] = cached
                if len(self._states) > _CACHE:
                    self._states.popitem(last=False)
            else:
                self._states.move_to_end((who, key))
            state = cached
        return state

    def understand(self, question: str, ctx: UserContext, state: DialogueState) -> Understood:
        """How ``question`` is understood after ``state``: a follow-up of the last turn, or a question alone."""
        if state.last is not None:
            # A Spanish follow-up is read in its English rewording ('ponlo en retención' → 'put it on hold'); a
            # request it makes keeps the user's own words as its reason.
            reading = self.planner.resolver.read(question)
            follow = self.follow_up(reading.text if reading.spanish else question, ctx, state)
            if follow is not None:
                return self._in_own_words(follow, question) if reading.spanish else follow
        plan = self.planner.plan(self._settled(question, ctx, state), ctx, state.questions)
        unnamed = self.references.unnamed(question, plan) if state.last is None else None
        return unnamed or Understood(plan, pending=pending_of(plan))

    def _settled(self, question: str, ctx: UserContext, state: DialogueState) -> str:
        """``question`` with the id of a record its name leaves ambiguous but the previous turn settles: its line
        ('is the heat sealer drifting?' after PK1: PK1's sealer) or the records it listed ('the 6 mm plate' after
        a supplier's lines); a typed id says which record is meant."""
        last = state.last
        previous = last.understood.analysis if last is not None else None
        if last is None or previous is None:
            return question
        entities = self.planner.resolver.extract(question, ctx.today, ctx.sites)
        if not entities.ambiguities:
            return question
        settled = settled_by_records(narrowed_by_context(entities, previous.entities), last.records)
        added = [i for a in entities.ambiguities for i in settled.ids.get(a.kind, ()) if i not in
                 entities.ids.get(a.kind, ())]
        return f"{question} ({added[0]})" if added else question

    def _in_own_words(self, understood: Understood, said: str) -> Understood:
        """``understood`` with each action call's reason (or description) taken from ``said``, the user's words."""
        plan = understood.plan
        if not isinstance(plan, ToolPlan):
            return understood
        actions = request_words().verbs
        calls = []
        for call in plan.calls:
            key = "description" if call.name == "create_maintenance_order" else "reason"
            own = own_words(said, call.name, self.planner.is_request) if call.name in actions else ""
            calls.append(PlannedCall(call.name, {**call.args, key: own}) if own and key in call.args else call)
        return replace(understood, plan=replace(plan, calls=tuple(calls)))

    def follow_up(self, question: str, ctx: UserContext, state: DialogueState) -> Understood | None:
        """``question`` resolved against the thread's last turn, or ``None`` when it is not a follow-up of it."""
        last = state.last
        if last is None:
            return None
        previous = last.understood.analysis
        sites = previous.entities.ids.get("site") if previous and not self.rules.at_home(words(question)) else None
        entities = self.planner.resolver.extract(question, ctx.today, frozenset(sites) if sites else ctx.sites)
        if entities.period is None and previous is not None:
            # 'and the week before?': a period only the previous one's dates define.
            read = self.planner.resolver.read(question).text
            earlier = earlier_period(read, previous.entities.period) or bare_span(
                read, previous.entities.period or default_window(last, ctx), ctx.today)
            entities = replace(entities, period=earlier) if earlier is not None else entities
            entities = narrowed_by_context(self._line_by_type(question, entities, previous.entities),
                                           previous.entities)
        entities = settled_by_records(entities, last.records)
        pending = last.understood.pending
        done = self.references.complete(pending, question, entities, ctx) if pending is not None else None
        if done is not None:
            return done
        named = with_previous_supplier(self.planner, question, state)
        if named != question:
            # 'open a supplier review with them, link that lot': the supplier first, then any other reference.
            plan = self.planner.plan(self.references.also(named, "supplier", state), ctx, ())
            return Understood(plan, "reference", pending=pending_of(plan))
        completed = self.references.pointed(question, ctx, state) or complete_request(
            self.planner, question, ctx, state) or on_previous_po(
            self.planner, question, ctx, state)
        if completed is not None:
            return completed
        if previous is not None and previous.intent is not None and (self.rules.switches_before_references(
                words(question), previous.intent.name) or self._new_percent(entities, last)):
            return self._refine(question, entities, ctx, state) or self.references.refer(question, ctx, state)
        return (self.references.refer(question, ctx, state)
                or on_previous_supplier(self.planner, question, ctx, state)
                or self._refine(question, entities, ctx, state)
                or on_previous_search(self.planner, question, ctx, state))

    def _line_by_type(self, question: str, entities: Entities, before: Entities) -> Entities:
        """``entities`` with the line a bare line type names at the previous question's site ('and on packaging?'
        after a machining cell at P200: P200's one packaging line); unchanged unless exactly one line fits."""
        if entities.ids.get("line") or entities.ids.get("site"):
            return entities
        sites = {s for s in before.ids.get("site", ())} | {
            ln.split("-")[0] for ln in before.ids.get("line", ())}
        if len(sites) != 1:
            return entities
        stems = set(words(question))
        prefixes = {prefix for phrase, prefix in self.planner.resolver.vocab.line_types
                    if len(phrase) == 1 and phrase[0] in stems and len(phrase[0]) > 3}
        lexicon = self.planner.resolver.lexicon
        lines = [ln.line_id for ln in lexicon.lines if ln.line_id.split("-")[0] in sites
                 and any(ln.code.startswith(p) for p in prefixes)]
        return replace(entities, ids={**entities.ids, "line": (lines[0],)}) if len(lines) == 1 else entities

    def _requests_action(self, question: str, ctx: UserContext) -> bool:
        """True when ``question`` on its own proposes a governed action."""
        plan = self.planner.plan(question, ctx, ())
        return isinstance(plan, ToolPlan) and any(c.name in request_words().verbs for c in plan.calls)

    def _subject(self, intent: Intent) -> str | None:
        """The record kind the rows of ``intent``'s first tool are about."""
        return next((self.rules.subjects.get(c.tool) for c in intent.calls), None)

    def _new_percent(self, entities: Entities, last: Exchange) -> bool:
        """True when the question states a percentage and the last turn's tool takes one ('drop it to 40 pct'
        after assets at risk: 'it' is the threshold, not one of the assets listed)."""
        return "percent" in entities.flags and any(
            (spec := self.rules.rows.get(c.name)) is not None and spec.percent_arg for c in last.calls)

    # ------------------------------------------------------------------ refining the previous question
    def _refine(self, question: str, entities: Entities, ctx: UserContext, state: DialogueState
                ) -> Understood | None:
        """The previous question asked again with what ``question`` changes (``None``: not a refinement). When the
        last turn cannot take the change ('same for Monterrey' after tracing a lot), the turn before it may."""
        rules = self.rules
        if self._requests_action(question, ctx):
            return None  # 'open a supplier review on Ningbo, too many late deliveries': a request, not a filter
        stems = words(self.planner.resolver.read(question).text)  # short typos fixed: 'which are lat?'
        threshold = rules.threshold(question)
        more = rules.asks_more(stems) and threshold is None  # 'the ones with more than 1,000' is a threshold
        last = state.last
        marked = rules.marked(stems) or more or threshold is not None or (
            last is not None and self._new_percent(entities, last))
        terse = sum(1 for s in entities.stems if s not in PLACEHOLDERS) <= rules.terse_words
        own = self.planner.catalogue.match(entities.stems)
        if own is None and terse and not (entities.ids or entities.period or entities.flags):
            # 'scorecard?' names no supplier, so no cue places it: the semantic stage's intent, held weak.
            placed = self.planner.analyse(question, ctx).intent
            own = IntentMatch(placed, 0.0) if placed is not None else None
        said = _Said(stems=stems, marked=marked, threshold=threshold, more=more,
                     repeat=rules.repeats_previous(stems), own=own, terse=terse,
                     widen=rules.widens(stems), subset=rules.narrows(stems))
        anchors = [e for e in reversed(state.exchanges[-LOOK_BACK:]) if e.refinable]
        for anchor in anchors:
            refined = self._refine_on(anchor, said, entities, ctx)
            if refined is not _UNPLANNED:
                return refined if isinstance(refined, Understood) else None
        return None

    def _refine_on(self, last: Exchange, said: _Said, entities: Entities, ctx: UserContext
                   ) -> Understood | object | None:
        previous = last.understood.analysis
        if previous is None or previous.intent is None:
            return None
        rules, catalogue = self.rules, self.planner.catalogue
        own = said.own
        switched = rules.switch(said.stems, previous.intent.name)
        scope = [k for k in entities.ids if k not in ("defect", "reason", "parameter")]
        news = bool(scope or entities.period or entities.flags or switched or said.widen)
        # 'where did we lose the time?' after a line's performance: the same line and period, one level down.
        drill = (own is not None and not scope and entities.period is None and not said.widen
                 and own.intent.name in rules.drill_down.get(previous.intent.name, ()))
        # 'genealogy?' after the quality events of one lot: a terse question of another intent on the same records.
        takes = own.intent.needs or _slots(own.intent) if own is not None else ()
        inherits = (own is not None and said.terse and not scope and bool(takes)
                    and not any(entities.has(n) for n in takes) and any(previous.entities.has(n) for n in takes))
        if not (said.marked or drill or inherits
                or (len(said.stems) <= rules.max_words and (news or said.more or said.threshold))):
            return None
        terse_same = own is not None and said.terse and (own.intent is previous.intent or inherits)
        weak_terse = own is not None and said.terse and own.score < rules.strong_match
        if (own is not None and not said.marked and not terse_same and not weak_terse and not drill
                and switched != previous.intent.name):
            # A question of its own ('any critical?' right after quality events is not; nor is 'over the next
            # 8 weeks' after a forecast: a few words that only weakly suggest another intent refine this one).
            return None
        if not said.marked and len(scope) == 1 and scope[0] in catalogue.defaults and len(said.stems) <= 3:
            return None  # a record alone ('RM-3002?'): the planner's default intent for it
        records = [k for k in entities.ids if k in rules.record_kinds]
        # Another topic on a line of its own ('and what's running on AS1?' after a component's projection):
        # the line is the scope, the earlier records are not carried onto it.
        topic = own is not None and own.intent is not previous.intent and own.score >= rules.strong_match
        merged = merge_entities(rules, self.planner.resolver.lexicon, previous.entities, entities, said.widen,
                                fresh=topic and bool(entities.ids.get("line")), today=ctx.today)
        # 'which of those are due ...' after customer orders picks among those orders: the previous intent first
        # (even unchanged: 'any of those on a line likely to fail?') when the question's own strong intent is
        # about other records (purchase orders); 'which of those haven't been confirmed?' after PO lines asks
        # about the same records, so its own intent is right.
        other = (said.subset and own is not None and own.intent is not previous.intent
                 and own.score >= rules.strong_match and self._subject(own.intent) != self._subject(previous.intent))
        candidates: list[Intent] = []
        if switched is not None:
            candidates.append(catalogue.get(switched))
        elif own is not None and own.intent is not previous.intent:
            if records and own.score >= rules.strong_match:
                return None  # its own intent and its own records: a new question
            # Its own intent is weak when the user may not call it ('open orders due in 3 days' after a buyer-less
            # role's customer orders are those orders).
            weak = own.score < rules.strong_match or not any(c.tool in ctx.tools for c in own.intent.calls)
            candidates += [previous.intent, own.intent] if weak or other else [own.intent]
        else:
            candidates.append(previous.intent)
        view = self._view(last, said.more, said.threshold, rules.asks_every(said.stems))
        if view is None and not records and last.understood.view is not None and last.understood.view.filters:
            view = last.understood.view  # 'and Monterrey?' after 'only those over 500': still over 500
        planned = False
        for intent in candidates:
            plan = self._plan(intent, merged, entities, ctx, view, said.more or view is not None)
            if plan is None:
                continue
            planned = True
            # The same calls for another intent answer another question ('any ERP vs MES mismatches there?' after
            # the plant summary: the same tool, the answer leads with the mismatches).
            unchanged = (isinstance(plan, ToolPlan) and _same_calls(plan.calls, last.understood.calls)
                         and intent is previous.intent)
            if unchanged and not (said.more or said.threshold or said.repeat or other):
                continue
            kind = "filter" if switched is not None else "topic" if intent is not previous.intent else _kind(
                entities, previous.entities, said.more, said.threshold is not None, said.repeat)
            return Understood(plan, kind, pending=pending_of(plan), view=view)
        return None if planned else _UNPLANNED

    def _plan(self, intent: Intent, merged: Entities, entities: Entities, ctx: UserContext, view: RowView | None,
              widen: bool) -> Plan | None:
        if intent.needs and not any(merged.has(n) for n in intent.needs):
            # 'and for RM-3002?' after 'where is LOT-P100-0423?': the new record's own default intent.
            kinds = [k for k in entities.ids if k in self.planner.catalogue.defaults]
            if not kinds:
                return None
            intent = self.planner.catalogue.defaults[kinds[0]]
        plan = self.planner.plan_analysis(Analysis(intent, merged), ctx)
        if not isinstance(plan, ToolPlan):
            return plan
        calls = tuple(PlannedCall(c.name, self._widened(c, ctx, view) if widen else c.args) for c in plan.calls)
        return replace(plan, calls=calls)

    def _widened(self, call: PlannedCall, ctx: UserContext, view: RowView | None) -> dict[str, Any]:
        """``call``'s arguments with a larger limit (the next page of a list, or every row a filter compares),
        or with a percentage threshold the tool takes as an argument."""
        args = dict(call.args)
        spec = self.rules.rows.get(call.name)
        if view is not None and view.percent is not None and spec is not None and spec.percent_arg:
            args[spec.percent_arg] = round(view.percent / 100, 4)
            return args
        props = ctx.schemas.get(call.name, {}).get("properties", {})
        limit = props.get("limit") if isinstance(props, dict) else None
        if isinstance(limit, dict):
            maximum = limit.get("maximum")
            wanted = self.rules.more_limit
            if view is not None and view.skip and not view.filters and spec is not None:
                # The next page only: the tool's own count of rows beyond its limit ('more') is then exactly
                # how many are still to come, a figure the answer may state.
                wanted = max(view.skip + spec.shown, int(limit.get("default") or 0))
            args["limit"] = min(wanted, maximum) if isinstance(maximum, int) else wanted
        return args

    def _view(self, last: Exchange, more: bool, threshold: tuple[RowView, bool] | None, every: bool
              ) -> RowView | None:
        before = last.understood.view
        if threshold is not None:
            view, percent = threshold
            return RowView(percent=view.above if view.above is not None else view.below) if percent else view
        if more and every:
            return RowView(every=True)
        if more:
            page = next((self.rules.rows[c.name].shown for c in last.calls if c.name in self.rules.rows), _SHOWN)
            skip = (before.skip if before is not None and last.understood.kind == "more" else 0) + page
            return replace(before, skip=skip) if before is not None else RowView(skip=skip)
        return None

def _slots(intent: Intent) -> tuple[str, ...]:
    """The record kinds an intent's calls take ('scorecard?' after a supplier's lines: the supplier)."""
    return tuple(dict.fromkeys(v[1:] for c in intent.calls for v in c.args.values()
                               if isinstance(v, str) and v.startswith("@") and v[1:] in _RECORD_SLOTS))


_RECORD_SLOTS = frozenset(("item", "lot", "po", "po_line", "wo", "qe", "so", "supplier", "asset", "machine", "line"))
def _same_calls(a: Sequence[PlannedCall], b: Sequence[PlannedCall]) -> bool:
    return [(c.name, c.args) for c in a] == [(c.name, c.args) for c in b]


def _kind(new: Entities, old: Entities, more: bool, threshold: bool, repeat: bool) -> str:
    """What a refinement of the same intent changed (for tests and the audit of how a turn was understood)."""
    if more:
        return "more"
    if threshold:
        return "threshold"
    if any(new.flags.get(k) != old.flags.get(k) for k in new.flags):
        return "filter"
    if new.ids.get("site") and new.ids["site"] != old.ids.get("site"):
        return "site"
    if any(k not in ("site", "period") for k in new.ids):
        return "entity"
    if new.period is not None:
        return "period"
    return "same" if repeat else "refined"
