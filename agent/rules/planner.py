"""From a question to a plan: tool calls with arguments, or a reply without tools.

The plan is a pure function of the question, the user's context and the tools
offered, so the model can recompute it when the tool results come back and
write the answer for the same intent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

from agent.rules.actions import ActionRequest, detect_action
from agent.rules.entities import Ambiguity, Entities, EntityResolver
from agent.rules.intents import Intent, IntentCatalogue
from agent.rules.procedures import SEARCH_TOOL, is_question, names_document, planned_search
from agent.rules.replies import HELP, clarify, decline, not_found
from agent.rules.request_words import request_words
from agent.rules.requests import RequestSplit, find_requests, own_words_reason
from agent.rules.semantic import ExampleIndex, SemanticMatch
from agent.rules.slots import SLOT_KINDS, fill_args

__all__ = ["Analysis", "PlannedCall", "Planner", "Reply", "ToolPlan", "UserContext"]

# Entities naming plant records (not vocabulary such as a defect code or a machine parameter).
_RECORD_KINDS = frozenset(("item", "lot", "po", "supplier", "line", "machine", "asset", "wo"))
_FOLLOW_UP_MAX_WORDS = 9


@dataclass(frozen=True)
class UserContext:
    """Who is asking (from the system message's context line) and what the model may call."""

    user_id: str
    roles: frozenset[str]
    sites: frozenset[str] | None
    """``None`` means every site."""
    today: date
    as_of: str
    tools: frozenset[str]
    """Names of the tools offered to the model."""
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON schema of each offered tool's arguments, when known."""


@dataclass(frozen=True)
class PlannedCall:
    """One tool call to request."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Analysis:
    """What was understood of a question."""

    intent: Intent | None
    entities: Entities
    candidates: tuple[Intent, ...] = ()
    """Two intents the semantic stage could not tell apart (the model asks which one was meant)."""


@dataclass(frozen=True)
class ToolPlan:
    """Call these tools (in one message)."""

    analysis: Analysis
    calls: tuple[PlannedCall, ...]
    skipped: tuple[str, ...] = ()
    """Optional tools of the intent the user may not call."""
    notes: tuple[str, ...] = ()
    """Said before the answer: what a message with a request could not do besides it (a refused question, a
    request the user may not make)."""
    staged: tuple[ActionRequest, ...] = ()
    """Requests whose arguments need this plan's reads first ('pull in by 3 days' needs the line's date)."""


@dataclass(frozen=True)
class Reply:
    """Answer without tools: a clarifying question, a refusal or a 'cannot answer'."""

    kind: Literal["clarify", "no_access", "cannot", "action", "not_found", "help"]
    text: str
    analysis: Analysis | None = None


Plan = ToolPlan | Reply


class Planner:
    """Decides what to do with a question."""

    def __init__(self, catalogue: IntentCatalogue, resolver: EntityResolver,
                 semantic: ExampleIndex | None = None) -> None:
        self.catalogue = catalogue
        self.resolver = resolver
        self.semantic = semantic
        self._by_name = {i.name: i for i in catalogue.intents}
        self._semantic_seen: dict[str, SemanticMatch | None] = {}

    def analyse(self, question: str, ctx: UserContext, history: Sequence[str] = (), *,
                entities: Entities | None = None) -> Analysis:
        """Intent and entities of ``question``; a short follow-up borrows the intent of the previous question.

        ``entities``: those of ``question`` for ``ctx`` already extracted by the caller (the plan has them), so the
        question is not read twice; ``None``: extract them here."""
        if entities is None:
            entities = self.resolver.extract(question, ctx.today, ctx.sites)
        match = self.catalogue.match(entities.stems)
        if match is not None:
            return Analysis(match.intent, entities)
        kinds = [k for k in entities.ids if k not in ("site", "period")]
        words = [s for s in entities.stems if s.isalpha() and not s.startswith("ent")]
        if len(kinds) == 1 and kinds[0] in self.catalogue.defaults and len(words) <= 3:
            return Analysis(self.catalogue.defaults[kinds[0]], entities)
        if history and len(entities.stems) <= _FOLLOW_UP_MAX_WORDS and (entities.ids or entities.period
                                                                        or entities.flags):
            previous = self.analyse(history[-1], ctx, history[:-1])
            if previous.intent is not None:
                return Analysis(previous.intent, previous.entities.merged(entities))
        return self._semantic(question, entities)

    def _confident(self, question: str, analysis: Analysis) -> Analysis:
        """A cue match that would have to ask for a record the question does not name is not a confident one:
        when the semantic stage places the question in an intent that needs nothing missing, that one wins."""
        intent, entities = analysis.intent, analysis.entities
        if intent is None or not intent.needs or any(entities.has(n) for n in intent.needs):
            return analysis
        other = self._semantic(question, entities)
        if other.intent is None or other.intent is intent:
            return analysis
        if other.intent.needs and not any(entities.has(n) for n in other.intent.needs):
            return analysis
        return other

    def _semantic(self, question: str, entities: Entities) -> Analysis:
        """The semantic stage: the nearest intent by example similarity, or two to ask between, or none."""
        if self.semantic is None:
            return Analysis(None, entities)
        if question not in self._semantic_seen:  # a thread re-analyses its earlier questions: embed each once
            self._semantic_seen[question] = self.semantic.match(question)
        found = self._semantic_seen[question]
        if found is None or found.intent not in self._by_name:
            return Analysis(None, entities)
        if found.decided or found.runner_up not in self._by_name:
            return Analysis(self._by_name[found.intent], entities)
        return Analysis(None, entities, (self._by_name[found.intent], self._by_name[str(found.runner_up)]))

    def plan(self, question: str, ctx: UserContext, history: Sequence[str] = ()) -> Plan:
        """The plan for ``question`` asked by ``ctx``'s user (``history``: earlier questions of the thread)."""
        entities = self.resolver.extract(question, ctx.today, ctx.sites)
        stems = entities.stems
        catalogue = self.catalogue
        # A Spanish question is read in its English rewording; reasons and search queries keep the user's words.
        reading = self.resolver.read(question)
        english = reading.text if reading.spanish else ""
        split = self._requests(english or question, entities, ctx)
        if split is not None and english:
            split = replace(split, requests=tuple(own_words_reason(r, question, self.is_request)
                                                  for r in split.requests))
        if split is not None and not split.single:
            combined = self._request_plan(split, entities, ctx, history)
            if combined is not None:
                return combined
        request = split.requests[0] if split is not None else None
        documents = planned_search(question, ctx.tools, english)
        if documents is not None and (request is None or is_question(question)):
            # What a procedure or policy says is answered from the documents, never from plant data; a question
            # that also asks about named plant records ("scrap is up on P100-PK1 — why, and what should we do?")
            # gets the data and the procedure side by side.
            search = PlannedCall(SEARCH_TOOL, documents)
            data = self._data_plan(question, ctx, history, entities)
            if data is not None:
                return ToolPlan(data.analysis, (*data.calls, search), data.skipped)
            return ToolPlan(Analysis(None, entities), (search,))
        if request is not None and request.action in ctx.tools:
            analysis = Analysis(None, entities)
            if entities.unknown_ids:
                return Reply("not_found", not_found(entities.unknown_ids), analysis)
            if request.missing:
                return Reply("clarify", request.missing, analysis)
            return self._action_plan((request,), analysis, ctx)
        verb = catalogue.is_action(stems)
        if verb is None and request is not None:
            verb = request.verb
        if verb is not None:
            words = request_words()
            command = words.command(english or question)
            if any(a in ctx.tools and words.has_nouns(command, a) for a in words.actions_for(verb)):
                # A change the user may request, without the records it is about ('reserve them for it').
                return Reply("clarify", f"Which records should I {verb}, and how (name them by id, e.g. the lot, "
                                        "PO line, item or spare part)?", Analysis(None, entities))
            return Reply("action", decline(verb) + " I can look up the current state for you instead.")
        if not entities.ids.get("lot"):
            topic = catalogue.unsupported_topic(stems)
            if topic is not None:
                return Reply("cannot", f"I can't answer that: I have no access to {topic}. I can answer questions "
                                       "about stock, purchase and sales orders, suppliers, work orders, lines, "
                                       "quality, maintenance and the plant summary.")
        analysis = self._confident(question, self.analyse(question, ctx, history, entities=entities))
        if analysis.intent is None and analysis.candidates:
            first, second = analysis.candidates
            return Reply("clarify", f"Do you mean {first.label} or {second.label}?", analysis)
        if analysis.intent is None:
            if catalogue.is_help(stems):
                return Reply("help", HELP)
            if entities.unknown_ids:
                return Reply("not_found", not_found(entities.unknown_ids), analysis)
            return Reply("cannot", "I can't answer that from the plant data I can read: I did not recognise what "
                                   "you are asking for. " + HELP, analysis)
        return self._plan_intent(analysis.intent, analysis, ctx)

    # ------------------------------------------------------------------ requests (agent/rules/requests.py)
    def _requests(self, question: str, entities: Entities, ctx: UserContext) -> RequestSplit | None:
        """The request(s) of ``question`` with the sentences around them, or ``None``."""
        sites = sorted(ctx.sites) if ctx.sites is not None else [s.site_id for s in self.resolver.lexicon.sites]
        return find_requests(
            question, entities, extract=lambda text: self.resolver.extract(text, ctx.today, ctx.sites),
            detect=lambda text, found: detect_action(text, found, user_id=ctx.user_id, today=ctx.today,
                                                     asset_of=self._asset_of, sites=sites))

    def is_request(self, sentence: str) -> bool:
        """Whether ``sentence`` (of a Spanish message) starts with a request verb once read in English."""
        words = request_words()
        return words.any_verb.match(words.command(self.resolver.read(sentence).text)) is not None

    def _request_plan(self, split: RequestSplit, entities: Entities, ctx: UserContext,
                      history: Sequence[str]) -> Plan | None:
        """A message with a request and more: the request is proposed, the informational part answered beside it
        (a refused or unanswerable part is reported, never stopping the request); ``None``: plan it as usual."""
        offered = [r for r in split.requests if r.action in ctx.tools]
        if not offered and not split.info:
            return None  # only requests the user may not make: the usual decline
        analysis = Analysis(None, entities)
        if offered and split.unknown_ids:
            return Reply("not_found", not_found(split.unknown_ids), analysis)
        missing = next((r.missing for r in offered if r.missing), "")
        if missing:
            return Reply("clarify", missing, analysis)
        notes = [decline(r.verb) for r in split.requests if r.action not in ctx.tools]
        reads: ToolPlan | None = None
        if split.info:
            info = self.plan(split.info, ctx, history)
            if isinstance(info, ToolPlan):
                reads = info
                notes += info.notes
            elif info.kind in ("no_access", "not_found", "clarify", "action"):
                notes.append(info.text)
        actions = self._action_plan(tuple(offered), analysis, ctx) if offered else None
        if isinstance(actions, Reply):
            return actions
        calls = (*(reads.calls if reads else ()), *(actions.calls if actions else ()))
        if not calls:
            return Reply("action", "\n\n".join(notes), analysis) if notes else None
        return ToolPlan(reads.analysis if reads else analysis, calls, reads.skipped if reads else (),
                        tuple(notes), actions.staged if actions else ())

    def _action_plan(self, requests: Sequence[ActionRequest], analysis: Analysis, ctx: UserContext) -> Plan:
        """The calls proposing complete ``requests``; a date shift first reads the PO line it starts from."""
        calls: list[PlannedCall] = []
        staged: list[ActionRequest] = []
        for request in requests:
            if request.shift_days and "new_promised_date" not in request.args:
                if "open_po_lines" not in ctx.tools:
                    return Reply("clarify", f"To which date (the new promised date, YYYY-MM-DD) should "
                                            f"{request.args['po_id']} line {request.args['line_no']} be moved?",
                                 analysis)
                read = PlannedCall("open_po_lines", self._fit("open_po_lines", {"po_id": request.args["po_id"]},
                                                              ctx))
                calls += [read] if read not in calls else []
                staged.append(request)
                continue
            calls.append(PlannedCall(request.action, self._fit(request.action, request.args, ctx)))
        return ToolPlan(analysis, tuple(calls), staged=tuple(staged))

    def plan_analysis(self, analysis: Analysis, ctx: UserContext) -> Plan:
        """The plan for an analysis made elsewhere (a follow-up resolved against the thread's earlier turns)."""
        if analysis.intent is None:
            return Reply("cannot", "I can't answer that from the plant data I can read. " + HELP, analysis)
        return self._plan_intent(analysis.intent, analysis, ctx)

    def _data_plan(self, question: str, ctx: UserContext, history: Sequence[str],
                   entities: Entities) -> ToolPlan | None:
        """The data calls of a question that names plant records and matches a data intent, else ``None``."""
        if names_document(question) or not any(kind in _RECORD_KINDS for kind in entities.ids):
            return None
        analysis = self.analyse(question, ctx, history, entities=entities)
        if analysis.intent is None:
            return None
        plan = self._plan_intent(analysis.intent, analysis, ctx)
        return plan if isinstance(plan, ToolPlan) and plan.calls else None

    def _plan_intent(self, intent: Intent, analysis: Analysis, ctx: UserContext) -> Plan:
        """The plan for a question ``analysis`` matched to ``intent``."""
        entities = analysis.entities
        if entities.unknown_ids:
            return Reply("not_found", not_found(entities.unknown_ids), analysis)
        used = {SLOT_KINDS[v] for c in intent.calls for v in c.args.values() if isinstance(v, str)
                and v in SLOT_KINDS}
        if intent.name == "spare_parts":
            used.add("machine")
            entities, problem = self._asset_from_machine(entities)
            analysis = Analysis(intent, entities)
            if problem is not None:
                return Reply("clarify", clarify(problem), analysis)
        elif intent.name == "maintenance_orders":
            # A named machine narrows to its asset when it has just one; otherwise its line is filter enough.
            entities, _problem = self._asset_from_machine(entities)
            analysis = Analysis(intent, entities)
        missing_tool = next((t.tool for t in intent.calls if not t.optional and t.tool not in ctx.tools), None)
        if missing_tool is not None:
            return Reply("no_access", f"I can't look that up for you: your role has no access to "
                                      f"{intent.label} (tool {missing_tool}).", analysis)
        for ambiguity in entities.ambiguities:
            if ambiguity.kind in used or ambiguity.kind in intent.needs:
                return Reply("clarify", clarify(ambiguity), analysis)
        if intent.needs and not any(entities.has(n) for n in intent.needs):
            return Reply("clarify", intent.ask or "Which record do you mean?", analysis)
        calls: list[PlannedCall] = []
        skipped: list[str] = []
        for template in intent.calls:
            if template.tool not in ctx.tools:
                skipped.append(template.tool)  # only optional calls get here
                continue
            args = fill_args(template.args, entities, today=ctx.today, sites=ctx.sites,
                             my_buyer=ctx.user_id if "buyer" in ctx.roles else None)
            if intent.name == "assets_at_risk" and entities.has("asset"):
                args["threshold"] = 0.0  # a named asset is reported whatever its risk
            if template.tool == "machine_downtime" and args.get("reason_code") not in self._down_reasons:
                args.pop("reason_code", None)
            wo_id = entities.first("wo")
            if template.tool == "work_orders" and wo_id and not args.get("line_id"):
                # No filter by id: list that order's line (all of it) and the answer picks the order out.
                line = self.resolver.lexicon.wo_lines.get(wo_id)
                if line:
                    args.update({"line_id": line, "limit": 500})
            calls.append(PlannedCall(template.tool, self._fit(template.tool, args, ctx)))
        return ToolPlan(analysis, tuple(calls), tuple(skipped))

    @property
    def _down_reasons(self) -> frozenset[str]:
        return frozenset(self.resolver.lexicon.down_reasons)

    def _asset_of(self, entities: Entities) -> tuple[str | None, str]:
        """The one asset ``entities`` name (directly or by its machine), or a clarifying question."""
        entities, problem = self._asset_from_machine(entities, whole_machine=True)
        if problem is not None:
            return None, clarify(problem)
        for ambiguity in entities.ambiguities:
            if ambiguity.kind in ("asset", "machine"):
                return None, clarify(ambiguity)
        assets = entities.ids.get("asset", ())
        if len(assets) > 1:
            return None, f"I act on one asset at a time. Which asset do you mean: {', '.join(assets)}?"
        return (assets[0], "") if assets else (None, "")

    def _asset_from_machine(self, entities: Entities, whole_machine: bool = False
                            ) -> tuple[Entities, Ambiguity | None]:
        if entities.has("asset") or not entities.has("machine"):
            return entities, None
        lexicon = self.resolver.lexicon
        machines = set(entities.ids["machine"])
        assets = [a for a in lexicon.assets if a.machine_id in machines]
        if len(assets) > 1:
            named = [a for a in assets if " - " in a.name
                     and set(a.name.split(" - ", 1)[1].lower().split()) & set(entities.stems)]
            # An action on a machine naming no module ('reserve … for lathe 1'): the asset that is the machine
            # itself; a read keeps them all (the machine's orders include its modules').
            whole = [a for a in assets if " - " not in a.name] if whole_machine else []
            assets = named or (whole if len(whole) == 1 else assets)
        if len(assets) == 1:
            ids = {**entities.ids, "asset": (assets[0].asset_id,)}
            return Entities(ids=ids, flags=entities.flags, period=entities.period,
                            first_person=entities.first_person, unknown_ids=entities.unknown_ids,
                            ambiguities=entities.ambiguities, stems=entities.stems), None
        if assets:
            return entities, Ambiguity("asset", ", ".join(sorted(machines)),
                                       tuple((a.asset_id, a.name) for a in assets))
        return entities, None

    @staticmethod
    def _fit(tool: str, args: dict[str, Any], ctx: UserContext) -> dict[str, Any]:
        """Keep only arguments the tool's schema declares (when the schema is known)."""
        schema = ctx.schemas.get(tool)
        if not schema:
            return args
        props = schema.get("properties", {})
        return {k: v for k, v in args.items() if k in props}
