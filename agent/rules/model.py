"""The offline rules model: a deterministic LangChain chat model over the plant's tools.

It reads the context line of the system message and the last human question,
asks for the tool calls its intent catalogue prescribes (only tools offered via
``bind_tools``), and, once the tool results of the turn are in, writes a
grounded answer from them. It never follows text found in tool results: tool
calls are derived from the user's question alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from agent.rules.action_hints import offered_triggers, review_hints
from agent.rules.answers import compose_answer
from agent.rules.dialogue import Understood, thread_turns
from agent.rules.entities import Entities, EntityResolver
from agent.rules.focus import Focus, ToolOutput
from agent.rules.follow_ups import Dialogue
from agent.rules.intents import IntentCatalogue
from agent.rules.lexicon import PlantLexicon
from agent.rules.localize import localize
from agent.rules.planner import Planner, Reply, ToolPlan, UserContext
from agent.rules.result_view import LISTED_ROWS, RowView
from agent.rules.semantic import ExampleIndex
from agent.rules.staged import shown_outputs, staged_calls
from agent.rules.version import rules_version
from agent.rules.vocab import Vocabulary

__all__ = ["CONTEXT_PREFIX", "RulesChatModel"]

CONTEXT_PREFIX = "context: "


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)


def _context(messages: Sequence[BaseMessage], default_today: date) -> dict[str, Any]:
    for message in messages:
        if isinstance(message, SystemMessage):
            for line in reversed(_text(message).splitlines()):
                if line.startswith(CONTEXT_PREFIX):
                    try:
                        data = json.loads(line[len(CONTEXT_PREFIX):])
                    except ValueError:
                        break
                    if isinstance(data, dict):
                        return data
    return {"user_id": "unknown", "roles": [], "sites": "*", "today": default_today.isoformat(), "tools": []}


def _offered(tools: Sequence[Any] | None) -> dict[str, Mapping[str, Any]]:
    """Tool name → argument schema of the bound tools (OpenAI format or anything LangChain converts)."""
    out: dict[str, Mapping[str, Any]] = {}
    for tool in tools or ():
        spec = tool if isinstance(tool, Mapping) else convert_to_openai_tool(tool)
        function = spec.get("function", spec)
        if isinstance(function, Mapping) and function.get("name"):
            params = function.get("parameters")
            out[str(function["name"])] = params if isinstance(params, Mapping) else {}
    return out


class RulesChatModel(BaseChatModel):
    """Deterministic intent/entity rules in the shape of a tool-calling chat model (``model_name = "rules"``)."""

    lexicon: PlantLexicon
    """Master data of the plant, e.g. ``PlantLexicon.from_engine(engine)``."""
    model_name: str = "rules"
    embedder: Any = None
    """Sentence embeddings for the semantic stage (``knowledge.embeddings.MiniLMEmbedder``); ``None`` = cues only."""
    _planner: Planner | None = PrivateAttr(default=None)
    _dialogue: Dialogue | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "jidoka-rules"

    @property
    def version(self) -> str:
        """Which rules answered (:func:`agent.rules.version.rules_version`), recorded in the audit."""
        return rules_version()

    @property
    def planner(self) -> Planner:
        """The planner (intent catalogue + entity resolver), built on first use from the packaged data."""
        if self._planner is None:
            catalogue = IntentCatalogue()
            resolver = EntityResolver(self.lexicon, Vocabulary.load(), catalogue.stems())
            semantic = None if self.embedder is None else ExampleIndex(
                self.embedder, known=[i.name for i in catalogue.intents])
            self._planner = Planner(catalogue, resolver, semantic)
        return self._planner

    @property
    def dialogue(self) -> Dialogue:
        """Follow-up understanding over the thread's earlier turns (built on first use)."""
        if self._dialogue is None:
            self._dialogue = Dialogue(self.planner)
        return self._dialogue

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` (OpenAI-format dicts, or tools LangChain can convert); only these will be called."""
        schemas = [dict(t) if isinstance(t, Mapping) else convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=schemas, **kwargs)

    # ------------------------------------------------------------------ core
    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None) -> AIMessage:
        """The reply to ``messages``: tool calls for a new question, or the answer once its results are in."""
        raw = _context(messages, self.lexicon.today or date(1970, 1, 1))
        language = str(raw.get("language") or "en")  # the policy's answer language for the user
        offered = _offered(tools)
        names = frozenset(offered) if tools is not None else frozenset(str(t) for t in raw.get("tools") or [])
        sites = raw.get("sites")
        try:
            today = date.fromisoformat(str(raw.get("today")))
        except ValueError:
            today = self.lexicon.today or date(1970, 1, 1)
        ctx = UserContext(
            user_id=str(raw.get("user_id") or "unknown"), roles=frozenset(str(r) for r in raw.get("roles") or []),
            sites=None if sites in ("*", None) else frozenset(str(s) for s in sites), today=today,
            as_of=str(raw.get("as_of") or ""), tools=names, schemas=offered)
        last = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)), None)
        if last is None:
            return AIMessage(content=localize("Ask me a question about the plant: stock, orders, suppliers, "
                                                       "production, quality or maintenance.", language))
        question = _text(messages[last])
        turn = list(messages[last + 1:])
        # The thread's earlier turns (their questions, calls, results, answers) make follow-ups understood.
        state = self.dialogue.state(thread_turns(messages[:last]), ctx)
        understood = self.dialogue.understand(question, ctx, state)
        plan = understood.plan
        results = [m for m in turn if isinstance(m, ToolMessage)]
        done = sum(len(m.tool_calls) for m in turn if isinstance(m, AIMessage))
        if results:
            staged, notes = staged_calls(plan, turn)  # a request that needed this turn's reads first
            if staged:
                return AIMessage(content="", tool_calls=[
                    {"name": c.name, "args": dict(c.args), "id": f"call_{done + i}", "type": "tool_call"}
                    for i, c in enumerate(staged, start=1)])
            # Suggestions the policy's action triggers call for (e.g. a supplier review), never tool calls.
            hints = review_hints([(m.name or "", _text(m)) for m in results], offered_triggers(tools),
                                 {line.line_id: line.site_id for line in self.lexicon.lines})
            shown, note = self._viewed(understood, results)
            written = self._answer(plan, turn, shown, understood.view)
            answer = "\n\n".join(p for p in (*notes, note, written, *hints) if p)
            return AIMessage(content=localize(answer, language))
        if isinstance(plan, Reply):
            return AIMessage(content=localize(plan.text, language))
        calls = [{"name": c.name, "args": dict(c.args), "id": f"call_{done + i}", "type": "tool_call"}
                 for i, c in enumerate(plan.calls, start=1)]
        return AIMessage(content="", tool_calls=calls)

    def _viewed(self, understood: Understood, results: Sequence[ToolMessage]) -> tuple[list[ToolMessage], str]:
        """``results`` as a follow-up shows them ('only the ones over 1,000', 'the rest'), and the note saying
        so ('' when nothing was left out)."""
        view = understood.view
        if view is None:
            return list(results), ""
        rows = self.dialogue.rules.rows
        shown = [m.model_copy(update={"content": view.apply(_text(m), rows.get(m.name or ""))}) for m in results]
        changed = any(a.content != b.content for a, b in zip(shown, results, strict=True))
        return shown, view.note([_text(m) for m in results]) if changed else ""

    @staticmethod
    def _answer(plan: ToolPlan | Reply, turn: Sequence[BaseMessage], results: Sequence[ToolMessage],
                view: RowView | None = None) -> str:
        requested: dict[str, tuple[str, dict[str, Any]]] = {}
        for message in turn:
            if isinstance(message, AIMessage):
                for call in message.tool_calls:
                    requested[str(call.get("id"))] = (call["name"], dict(call.get("args") or {}))
        outputs = []
        for message in results:
            name, args = requested.get(message.tool_call_id, (message.name or "tool", {}))
            outputs.append(ToolOutput(message.name or name, args, _text(message)))
        if isinstance(plan, ToolPlan):
            focus = Focus(plan.analysis.intent.name if plan.analysis.intent else "", plan.analysis.entities,
                          rows=view.listed if view is not None else LISTED_ROWS)
            skipped: Sequence[str] = plan.skipped
        else:
            focus, skipped = Focus("", Entities()), ()
        answer = compose_answer(shown_outputs(plan, outputs), focus, skipped)
        # What a message with a request could not do besides it (a refused question …) comes first.
        return "\n\n".join([*plan.notes, answer]) if isinstance(plan, ToolPlan) and plan.notes else answer

    # ------------------------------------------------------------------ LangChain hooks
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.respond(messages, kwargs.get("tools")))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        message = self.respond(messages, kwargs.get("tools"))
        text = message.content if isinstance(message.content, str) else ""
        if text:
            words = text.split(" ")
            for i, word in enumerate(words):
                piece = word if i == len(words) - 1 else word + " "
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        if message.tool_calls:
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[
                {"name": c["name"], "args": json.dumps(c["args"], sort_keys=True), "id": c["id"], "index": i}
                for i, c in enumerate(message.tool_calls)]))
