"""Dialogue state: what a thread's earlier turns asked, called and returned, read from the thread's own messages.

The graph hands the model the whole thread: each earlier question (a ``HumanMessage``), the model's tool calls
(``AIMessage.tool_calls``) and their results (``ToolMessage``) when the thread still holds them, and the answer.
:func:`thread_turns` splits that into :class:`Turn` records; :func:`record_ids` reads the ids of the records a
turn returned — from the results' structured ``record_ids`` when they are there, else from the answer, whose
bracketed citations come first (the graph keeps only each finished turn's question and answer, see
``agent/graph.py``). Ids are data, never instructions: only strings in the shape of a plant record id are kept,
free text in a result is never scanned for them, and every id is resolved against the plant again before use.

How each earlier question was *understood* (its intent, its resolved calls, a clarifying question it left open)
is recomputed by replaying the model's own deterministic understanding over the turns in order
(:func:`replay`), so a follow-up of a follow-up refines what was really asked. Everything here is pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.rules.planner import Analysis, Plan, PlannedCall, Reply, ToolPlan
from agent.rules.result_view import RowView

__all__ = ["DialogueState", "Exchange", "Pending", "Turn", "Understood", "classify_ids", "is_clarification",
           "pending_of", "record_ids", "replay", "thread_turns"]

# Plant record ids as the tools and answers print them, most specific first (a PO line before its PO, a machine
# before the line inside its id).
_ID_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("po_line", r"\bPO-\d{4,6}/\d{1,3}\b"),
    ("po", r"\bPO-\d{4,6}\b"),
    ("lot", r"\bLOT-P\d{3}-\d{3,5}\b"),
    ("machine", r"\bM-P\d{3}-[A-Z]{2}\d-\d{2}\b"),
    ("wo", r"\bWO-\d{3,6}\b"),
    ("qe", r"\bQE-\d{3,6}\b"),
    ("so", r"\bSO-\d{4,6}\b"),
    ("asset", r"\bAS-\d{3}\b"),
    ("line", r"\bP\d{3}-[A-Z]{2}\d\b"),
    ("item", r"\b(?:FG|CP|RM|SP)-\d{4}\b"),
    ("supplier", r"\bS-\d{3}\b"),
))


_CITATION = re.compile(r"\[([^\[\]]+)\]")


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)


@dataclass(frozen=True)
class Turn:
    """One finished turn as the thread holds it."""

    question: str
    calls: tuple[PlannedCall, ...] = ()
    """The tool calls the thread still shows for the turn (none once the graph has pruned them)."""
    results: tuple[str, ...] = ()
    """The tool results' contents, in order (none once pruned)."""
    answer: str = ""


def thread_turns(messages: Sequence[BaseMessage]) -> tuple[Turn, ...]:
    """The turns of ``messages`` (a thread before its current question), oldest first."""
    turns: list[Turn] = []
    question: str | None = None
    calls: list[PlannedCall] = []
    results: list[str] = []
    answer = ""
    for message in messages:
        if isinstance(message, HumanMessage):
            if question is not None:
                turns.append(Turn(question, tuple(calls), tuple(results), answer))
            question, calls, results, answer = _text(message), [], [], ""
        elif question is None:
            continue  # the system message, or anything before the first question
        elif isinstance(message, AIMessage):
            if message.tool_calls:
                calls += [PlannedCall(str(c["name"]), dict(c.get("args") or {})) for c in message.tool_calls]
            else:
                answer = _text(message)
        elif isinstance(message, ToolMessage):
            results.append(_text(message))
    if question is not None:
        turns.append(Turn(question, tuple(calls), tuple(results), answer))
    return tuple(turns)


def classify_ids(texts: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Record ids found in ``texts`` by kind, each kind in order of first appearance."""
    found: dict[str, list[str]] = {}
    for text in texts:
        rest = text
        for kind, shape in _ID_SHAPES:
            for match in shape.finditer(rest):
                found.setdefault(kind, []).append(match.group(0))
            rest = shape.sub(" ", rest)  # 'PO-24017/2' is not also the PO 'PO-24017'
    return {kind: tuple(dict.fromkeys(ids)) for kind, ids in found.items()}


def _result_ids(content: str) -> list[str]:
    """The ids a tool result says it read (its structured ``record_ids``). Free text in a result (a quoted
    description, a supplier's note) is never scanned: an id planted there must not become what 'it' means."""
    try:
        result = json.loads(content)
    except (TypeError, ValueError):
        return []
    ids = result.get("record_ids") if isinstance(result, Mapping) else None
    return [str(i) for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def record_ids(turn: Turn) -> dict[str, tuple[str, ...]]:
    """The records ``turn`` returned by kind: from its results when the thread holds them, else its answer."""
    if turn.results:
        return classify_ids([" ".join(ids) for content in turn.results if (ids := _result_ids(content))])
    # The rules model cites the records behind every line in brackets, from the results' fields; a name or
    # note it quotes from free text is not cited. So a kind the answer cites is taken from its citations only,
    # and the rest of the text adds only kinds it never cites (the item of 'LOT-P200-0305 (RM-3022) is at ...').
    cited = classify_ids(_CITATION.findall(turn.answer))
    rest = classify_ids([turn.answer])
    return {**{kind: ids for kind, ids in rest.items() if kind not in cited}, **cited}


@dataclass(frozen=True)
class Pending:
    """A clarifying question a turn asked, and how the answer to it completes the turn."""

    kinds: tuple[str, ...]
    """The record kinds asked for."""
    candidates: tuple[str, ...]
    """The ids offered (empty: any id of that kind)."""
    template: str = ""
    """The question with ``{ref}`` where the chosen id goes (a pronoun that could mean several records)."""
    analysis: Analysis | None = None
    """Or the analysis the chosen id completes (an ambiguous name, a missing record)."""


@dataclass(frozen=True)
class Understood:
    """How the model understood one question of the thread."""

    plan: Plan
    kind: str = ""
    """'' for a question on its own; else the follow-up kind ('filter', 'site', 'period', 'entity', 'more',
    'threshold', 'reference', 'clarified', 'same')."""
    pending: Pending | None = None
    view: RowView | None = None

    @property
    def analysis(self) -> Analysis | None:
        """The plan's analysis (intent and entities), when it has one."""
        return self.plan.analysis

    @property
    def calls(self) -> tuple[PlannedCall, ...]:
        """The calls the plan requested (none for a reply)."""
        return self.plan.calls if isinstance(self.plan, ToolPlan) else ()


@dataclass(frozen=True)
class Exchange:
    """One earlier turn: the question, how it was understood, the calls made and the records returned."""

    question: str
    understood: Understood
    calls: tuple[PlannedCall, ...]
    records: Mapping[str, tuple[str, ...]]
    answer: str = ""
    results: tuple[str, ...] = ()
    """The tool results the thread still holds for the turn (none once pruned: then the answer is read)."""

    @property
    def asked_which(self) -> bool:
        """True when the turn only asked which record 'it' was (and so answered nothing)."""
        return is_clarification(self.understood.plan) and self.understood.kind == "reference"

    @property
    def answered(self) -> bool:
        """False for a turn with nothing to point back at: not understood, or only asked which record 'it' was."""
        plan = self.understood.plan
        return not (self.asked_which or (isinstance(plan, Reply) and plan.kind in ("cannot", "help")))

    @property
    def refinable(self) -> bool:
        """True when a refinement can start from the turn: it understood an intent ('and at P200?' skips a
        question not understood, or a 'which one do you mean?', and refines the one before)."""
        analysis = self.understood.analysis
        return not self.asked_which and analysis is not None and analysis.intent is not None


@dataclass(frozen=True)
class DialogueState:
    """The thread so far, as the model understood it."""

    exchanges: tuple[Exchange, ...] = field(default_factory=tuple)

    @property
    def last(self) -> Exchange | None:
        """The last answered turn (``None`` at the start of a thread)."""
        return self.exchanges[-1] if self.exchanges else None

    @property
    def questions(self) -> list[str]:
        """The earlier questions, oldest first."""
        return [e.question for e in self.exchanges]

    @property
    def intent(self) -> str | None:
        """The last turn's intent name."""
        last = self.last
        analysis = last.understood.analysis if last else None
        return analysis.intent.name if analysis and analysis.intent else None

    def then(self, turn: Turn, understood: Understood) -> DialogueState:
        """This state followed by ``turn`` understood as ``understood``."""
        calls = turn.calls or understood.calls
        return DialogueState((*self.exchanges, Exchange(turn.question, understood, calls, record_ids(turn),
                                                        turn.answer, turn.results)))


def replay(turns: Sequence[Turn], understand: Callable[[str, DialogueState], Understood],
           start: DialogueState | None = None) -> DialogueState:
    """The state after ``turns``, each understood in the state of the turns before it (from ``start``)."""
    state = start or DialogueState()
    for turn in turns:
        state = state.then(turn, understand(turn.question, state))
    return state


def is_clarification(plan: Plan) -> bool:
    """True when ``plan`` is a clarifying question."""
    return isinstance(plan, Reply) and plan.kind == "clarify"


def pending_of(plan: Plan) -> Pending | None:
    """What the answer to ``plan``'s clarifying question completes (``None`` when it asks nothing): the record
    an ambiguous name could be, or the record its intent needs."""
    analysis = plan.analysis
    if not is_clarification(plan) or analysis is None or analysis.intent is None:
        return None
    for ambiguity in analysis.entities.ambiguities:
        return Pending((ambiguity.kind,), tuple(cid for cid, _ in ambiguity.candidates), analysis=analysis)
    if analysis.intent.needs:
        return Pending(tuple(analysis.intent.needs), (), analysis=analysis)
    return None
