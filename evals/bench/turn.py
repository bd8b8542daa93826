"""CPU per turn: jidoka's governed graph against a bare LangGraph ReAct agent.

Both run the same scripted model (one tool call, then an answer written from
the result), the same read tools and the same kind of checkpointer (SQLite, one
database each). Runs are interleaved in rounds — bare, governed, governed with
the governance timer, in a rotating order — so machine noise hits all alike;
CPU is the process's CPU time. The figure is the median of the per-round
ratios, reported with their range.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool
from langgraph.prebuilt import create_react_agent
from langgraph.types import Durability
from sqlalchemy import Engine

from agent.copilot import TURN_DURABILITY
from agent.scripted import ScriptedChatModel
from evals.bench._governance_timer import COMPONENTS, GovernanceTimer, governance_timer
from evals.bench.stats import Spread, spread
from tools import DataScope, default_catalog, make_engine, tool_context

if TYPE_CHECKING:
    from server.runtime import RuntimeFactory

__all__ = ["TurnComparison", "governed_turn", "turn_cpu"]

QUESTIONS = [("inventory_lookup", {"item_id": "RM-3001", "limit": 5}),
             ("open_po_lines", {"late_only": True, "limit": 5}),
             ("work_orders", {"line_id": "P100-PK1", "limit": 5}),
             ("quality_events", {"line_id": "P100-PK1", "limit": 5})]
USER = "eve.exec"
"""Allowed all four tools, so both agents do the same work (a refusal would be cheaper)."""


def _script() -> list[Any]:
    """Alternating steps: ask for the next question's tool, then answer from its result."""
    steps: list[Any] = []
    for index, (name, args) in enumerate(QUESTIONS):
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


class _Durability:
    """The compiled graph with every ``invoke`` run in another durability mode than the copilot's."""

    def __init__(self, graph: Any, mode: Durability) -> None:
        self._graph = graph
        self._mode = mode

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["durability"] = self._mode
        return self._graph.invoke(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)


@contextmanager
def governed_turn(factory: RuntimeFactory, plant_url: str, home: Path, today: date,
                  durability: Durability = TURN_DURABILITY) -> Iterator[Callable[[int], None]]:
    """One governed turn per call, each on a fresh thread (state, audit and checkpoints under ``home``); the
    runtime ``factory`` makes is closed on exit.

    The copilot is the one the composition root builds, with the scripted model in the model and fallback slots
    and no action grants (reads only, like the bare agent). ``durability`` runs the graph in that LangGraph
    durability mode instead of the copilot's (a diagnostic).
    """
    model = ScriptedChatModel(script=_script(), cycle=True)
    state_url = f"sqlite:///{home / ('governed-state-' + durability + '.db')}"
    overrides = factory.overrides(model=model, fallback=model, identity=_identity, model_grant=None,
                                  fallback_grant=None)
    runtime = factory.runtime(home, data_url=plant_url, state_url=state_url, today=today, overrides=overrides)
    try:
        copilot = factory.copilot(runtime)
        if durability != TURN_DURABILITY:
            copilot.graph = cast(Any, _Durability(copilot.graph, durability))

        def turn(i: int) -> None:  # a fresh thread per turn: both agents pay for one turn, not for history
            model.calls.clear()  # the scripted model keeps every call for tests; not here
            copilot.ask(USER, f"question {i}", thread_id=f"bench-{uuid.uuid4().hex[:12]}")
        yield turn
    finally:
        runtime.close()


@contextmanager
def _bare(factory: RuntimeFactory, plant: Engine, home: Path, today: date,
          durability: Durability = TURN_DURABILITY) -> Iterator[Callable[[int], None]]:
    catalog = default_catalog()
    ctx = tool_context(plant, DataScope.unrestricted(), today)
    tools = []
    for spec in catalog:
        def run(_spec: Any = spec, **kwargs: Any) -> str:
            return _spec.invoke(ctx, kwargs).model_dump_json()
        tools.append(StructuredTool.from_function(func=run, name=spec.name, description=spec.description,
                                                  args_schema=spec.args_model))
    model = ScriptedChatModel(script=_script(), cycle=True)
    with factory.checkpointer(f"sqlite:///{home / ('bare-state-' + durability + '.db')}") as checkpointer:
        with warnings.catch_warnings():  # moved to the `langchain` package (not a dependency); the same agent
            warnings.simplefilter("ignore")
            agent = create_react_agent(model, tools, checkpointer=checkpointer)

        def turn(i: int) -> None:
            model.calls.clear()
            config: Any = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:12]}"}}
            agent.invoke({"messages": [HumanMessage(content=f"question {i}")]}, config=config, durability=durability)
        yield turn


def _cpu_per_turn(turn: Callable[[int], None], turns: int) -> float:
    """Process CPU seconds per turn over ``turns`` turns (collected garbage first, so neither pays the other's)."""
    gc.collect()
    start = time.process_time()
    for i in range(turns):
        turn(i)
    return (time.process_time() - start) / turns


@dataclass(frozen=True)
class TurnComparison:
    """Per-round CPU ms per turn of both agents, their ratio, and the governance work by component."""

    bare_ms: Spread
    governed_ms: Spread
    ratio: Spread
    governance_ms: Spread
    components_ms: dict[str, float]
    """Median CPU ms per turn of each governance component over the timed rounds."""
    rounds: int
    turns_per_round: int
    storage: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per agent (``governed``, ``bare``): checkpoints and channel writes stored per turn."""


def _storage(database: Path) -> tuple[float, float]:
    """Checkpoints and writes per thread (each turn runs on a fresh thread) in ``database``."""
    with sqlite3.connect(database) as conn:
        threads, checkpoints = conn.execute("SELECT COUNT(DISTINCT thread_id), COUNT(*) FROM checkpoints").fetchone()
        writes = conn.execute("SELECT COUNT(*) FROM writes").fetchone()[0]
    return (checkpoints / threads, writes / threads) if threads else (0.0, 0.0)


def turn_cpu(plant_url: str, home: Path, today: date, *, factory: RuntimeFactory, rounds: int = 10,
             turns: int = 10, warmup: int = 2 * len(QUESTIONS),
             durability: Durability = TURN_DURABILITY) -> TurnComparison:
    """Measure ``rounds`` interleaved rounds of ``turns`` turns for each agent, both in ``durability`` mode (by
    default the copilot's own); ``factory`` builds the governed side and the checkpointer of both."""
    plant = make_engine(plant_url)
    with ExitStack() as stack:
        stack.callback(plant.dispose)
        bare_turn = stack.enter_context(_bare(factory, plant, home, today, durability))
        governed = stack.enter_context(governed_turn(factory, plant_url, home, today, durability))
        for i in range(warmup):  # imports, caches, prepared statements, connections
            bare_turn(i)
            governed(i)
        timer = GovernanceTimer()
        timer.calibrate()
        bare: list[float] = []
        gov: list[float] = []
        ratios: list[float] = []
        governance: list[float] = []
        parts: dict[str, list[float]] = {label: [] for label in COMPONENTS}

        def timed_round() -> None:
            timer.reset()
            with governance_timer(timer):
                _cpu_per_turn(governed, turns)
            net = timer.net()
            governance.append(sum(net.values()) / turns * 1000)
            for label, seconds in net.items():
                parts[label].append(seconds / turns * 1000)

        for r in range(rounds):
            steps: list[Callable[[], None]] = [lambda: bare.append(_cpu_per_turn(bare_turn, turns) * 1000),
                                               lambda: gov.append(_cpu_per_turn(governed, turns) * 1000),
                                               timed_round]
            shift = r % 3  # rotate the order: no agent always runs first (cold) or last
            for step in steps[shift:] + steps[:shift]:
                step()
            ratios.append(gov[-1] / bare[-1])
    storage = {agent: _storage(home / f"{agent}-state-{durability}.db") for agent in ("governed", "bare")}
    return TurnComparison(bare_ms=spread(bare), governed_ms=spread(gov), ratio=spread(ratios), storage=storage,
                          governance_ms=spread(governance),
                          components_ms={k: spread(v).median for k, v in parts.items()},
                          rounds=rounds, turns_per_round=turns)
