"""CPU per turn: jidoka's governed graph against a bare LangGraph ReAct agent.

Both run the same scripted model (one tool call, then an answer written from
the result), the same read tools and the same kind of checkpointer (SQLite).
The governance work alone — gate, screening, spotlighting, grounding, audit —
is timed by wrapping those functions during the governed run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool
from langgraph.prebuilt import create_react_agent
from sqlalchemy import Engine

import agent.graph as graph_module
import guardrails.governed as governed_module
from agent.checkpoint import open_checkpointer
from agent.copilot import Copilot
from agent.graph import AgentDeps, build_graph
from agent.scripted import ScriptedChatModel
from guardrails.audit import AuditLog
from guardrails.gate import Gate
from guardrails.governed import GovernedTools
from guardrails.locator import SqlSiteResolver
from guardrails.policy import load_policy
from guardrails.turn_guard import TurnGuard
from tools import DataScope, default_catalog, make_engine, tool_context

__all__ = ["turn_cpu"]

_QUESTIONS = [("inventory_lookup", {"item_id": "RM-3001", "limit": 5}),
              ("open_po_lines", {"late_only": True, "limit": 5}),
              ("work_orders", {"line_id": "P100-PK1", "limit": 5}),
              ("quality_events", {"line_id": "P100-PK1", "limit": 5})]


def _script() -> list[Any]:
    """Alternating steps: ask for the next question's tool, then answer from its result."""
    steps: list[Any] = []
    for index, (name, args) in enumerate(_QUESTIONS):
        steps.append(AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{index}"}]))

        def answer(messages: list[BaseMessage]) -> AIMessage:
            result = json.loads(str(messages[-1].content)) if isinstance(messages[-1], ToolMessage) else {}
            ids = result.get("record_ids", [])[:3]
            return AIMessage(content=f"Found {len(ids)} records [{', '.join(ids)}]. Data as of "
                                     f"{str(result.get('as_of', ''))[:10]}.")
        steps.append(answer)
    return steps


def _identity(model: Any, reply: Any) -> dict[str, Any]:
    return {"provider": "scripted", "model": "scripted", "version": "0"}


class _Timer:
    """Accumulates CPU seconds spent inside wrapped functions (outermost calls only)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - start
                self._depth -= 1
        return timed


@contextmanager
def _governance_timer() -> Iterator[_Timer]:
    timer = _Timer()
    patches = [
        (GovernedTools, "decide"), (TurnGuard, "screen_prompt"), (TurnGuard, "screen_answer"),
        (AuditLog, "_write"), (governed_module, "screen_and_spotlight"), (graph_module, "check_grounding"),
        (graph_module, "collect_evidence"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name in patches]
    for owner, name, original in originals:
        setattr(owner, name, timer.wrap(original))
    try:
        yield timer
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _governed(plant: Engine, home: Path, today: Any) -> Callable[[int], None]:
    policy = load_policy()
    catalog = default_catalog()
    governed = GovernedTools(gate=Gate(policy, catalog, SqlSiteResolver(plant)), catalog=catalog, engine=plant,
                             today=today)
    state_url = f"sqlite:///{home / 'governed-state.db'}"
    audit = AuditLog(make_engine(state_url))
    audit.create_schema()
    checkpointer, _ = open_checkpointer(state_url)
    model = ScriptedChatModel(script=_script(), cycle=True)
    deps = AgentDeps(governed=governed, guard=TurnGuard(policy), model=model, fallback=model, identity=_identity)
    copilot = Copilot(build_graph(deps, checkpointer), governed, audit)

    # eve.exec may call all four tools, so both agents do the same work (a refusal would be cheaper).
    def turn(i: int) -> None:  # a fresh thread per turn: both agents pay for one turn, not for history
        copilot.ask("eve.exec", f"question {i}", thread_id=f"bench-{uuid.uuid4().hex[:12]}")
    return turn


def _bare(plant: Engine, home: Path, today: Any) -> Callable[[int], None]:
    catalog = default_catalog()
    ctx = tool_context(plant, DataScope.unrestricted(), today)
    tools = []
    for spec in catalog:
        def run(_spec: Any = spec, **kwargs: Any) -> str:
            return _spec.invoke(ctx, kwargs).model_dump_json()
        tools.append(StructuredTool.from_function(func=run, name=spec.name, description=spec.description,
                                                  args_schema=spec.args_model))
    checkpointer, _ = open_checkpointer(f"sqlite:///{home / 'bare-state.db'}")
    agent = create_react_agent(ScriptedChatModel(script=_script(), cycle=True), tools, checkpointer=checkpointer)

    def turn(i: int) -> None:
        agent.invoke({"messages": [HumanMessage(content=f"question {i}")]},
                     config={"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:12]}"}})
    return turn


def _warm_up(turn: Callable[[int], None]) -> None:
    for i in range(len(_QUESTIONS)):  # imports, caches, prepared statements, connections
        turn(i)


def _cpu_per_turn(turn: Callable[[int], None], turns: int) -> float:
    """CPU per turn over ``turns`` turns (after :func:`_warm_up`)."""
    start = time.process_time()
    for i in range(turns):
        turn(i)
    return (time.process_time() - start) / turns


def turn_cpu(plant_url: str, home: Path, today: Any, *, turns: int = 40) -> dict[str, float]:
    """CPU ms per turn for both agents, their ratio, and the governance work alone."""
    plant = make_engine(plant_url)
    bare_turn = _bare(plant, home, today)
    _warm_up(bare_turn)
    bare = _cpu_per_turn(bare_turn, turns)
    governed_turn = _governed(plant, home, today)
    _warm_up(governed_turn)
    with _governance_timer() as timer:  # the same turns as the governed figure: one-time set-up is in neither
        governed = _cpu_per_turn(governed_turn, turns)
        governance = timer.seconds / turns
    plant.dispose()
    return {"bare_turn_cpu_ms": bare * 1000, "governed_turn_cpu_ms": governed * 1000,
            "governed_turn_ratio": governed / bare, "governance_cpu_ms_per_turn": governance * 1000}
