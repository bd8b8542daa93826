"""Builders for graph tests: a copilot on the demo plant with a scripted model of our own."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from sqlalchemy import Engine

from agent.approval_node import ActionSteps
from agent.checkpoint import open_checkpointer
from agent.copilot import Copilot
from agent.graph import AgentDeps, build_graph
from agent.scripted import ScriptedChatModel
from guardrails.approvals.governed_actions import GovernedActions
from guardrails.approvals.models import ApprovalRequest, DecisionKind
from guardrails.approvals.routing import ApprovalRouter
from guardrails.approvals.service import ActionApprovals
from guardrails.approvals.store import ApprovalStore
from guardrails.audit.log import AuditLog
from guardrails.gate import Gate
from guardrails.governed import GovernedTools
from guardrails.locator import SqlSiteResolver
from guardrails.policy.loader import Policy, load_policy
from guardrails.policy.models import ApprovedModel, ModelPolicy
from guardrails.turn_guard import TurnGuard
from tests.factories import TODAY
from tools import default_catalog, make_engine
from tools.actions import ensure_action_tables
from tools.actions.catalog import action_catalog


def identity(model: BaseChatModel, reply: AIMessage | None) -> dict[str, Any]:
    return {"provider": "test", "model": getattr(model, "model_name", "?"), "version": "0"}


def build_copilot(plant: Engine, home: Path, model: BaseChatModel, fallback: BaseChatModel | None = None,
                  ) -> tuple[Copilot, AuditLog]:
    """A copilot whose state lives under ``home`` (audit and checkpoints in one SQLite file)."""
    policy = load_policy()
    catalog = default_catalog()
    governed = GovernedTools(gate=Gate(policy, catalog, SqlSiteResolver(plant)), catalog=catalog, engine=plant,
                             today=TODAY)
    state_url = f"sqlite:///{home / 'state.db'}"
    audit = AuditLog(make_engine(state_url))
    audit.create_schema()
    checkpointer, _ = open_checkpointer(state_url)
    deps = AgentDeps(governed=governed, guard=TurnGuard(policy), model=model,
                     fallback=fallback or ScriptedChatModel(script=[AIMessage(content="fallback answer")], cycle=True),
                     identity=identity)
    return Copilot(build_graph(deps, checkpointer), governed, audit), audit


def tool_results(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Parsed ToolMessage contents after the last human question."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ToolMessage):
            out.append(json.loads(str(message.content)))
    return out


def call(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    """An AIMessage asking for one tool call."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def answer_from(write: Callable[[list[dict[str, Any]]], str]) -> Callable[[list[BaseMessage]], AIMessage]:
    """A scripted step that writes its answer from the tool results it was given."""
    def step(messages: list[BaseMessage]) -> AIMessage:
        return AIMessage(content=write(tool_results(messages)))
    return step


# ---- governed actions ---------------------------------------------------------------------------------------

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class Clock:
    """A settable wall clock shared by routing, the approval store and the actions (expiry tests move it)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@functools.cache
def shared_policy() -> Policy:
    """The shipped policy, loaded once (it is immutable; loading it takes most of a second)."""
    return load_policy()


def policy_grant(model_id: str = "openai:gpt-4o-mini") -> ApprovedModel:
    """The shipped policy's grant for ``model_id`` (gpt-4o-mini may propose advisory and approval actions)."""
    return ModelPolicy.from_policy(shared_policy()).approved[model_id]


AUTONOMOUS_GRANT = ApprovedModel("openai:test-autonomous", "openai",
                                 frozenset({"advisory", "approval", "autonomous"}), "test-models.yaml")
"""A model approved for autonomous actions too (the shipped policy approves none for that)."""


def copy_plant(demo_home: Path, tmp_path: Path) -> Path:
    """A private copy of the demo plant with the action tables (actions change it)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "plant.db"
    shutil.copy(demo_home / "plant.db", target)
    engine = make_engine(f"sqlite:///{target}")
    ensure_action_tables(engine)
    engine.dispose()
    return target


@dataclass
class ActionHarness:
    """A copilot with governed actions, plus the pieces tests inspect."""

    copilot: Copilot
    audit: AuditLog
    approvals: ActionApprovals
    clock: Clock
    plant: Any

    @property
    def store(self) -> ApprovalStore:
        return self.approvals.store

    def decide(self, request_id: str, approver: str, decision: str = "approve", comment: str = "") -> ApprovalRequest:
        """Decide as the CLI does: the store's rules and an ``approval_decided`` audit event."""
        with self.audit.buffer() as buffer:
            return self.approvals.decide(request_id, approver, DecisionKind(decision), comment, audit=buffer)


def build_action_copilot(plant_file: Path, home: Path, model: BaseChatModel, *,
                         grant: ApprovedModel | None = None, clock: Clock | None = None,
                         policy: Policy | None = None) -> ActionHarness:
    """A copilot on ``plant_file`` that may propose actions (as ``grant`` allows: default gpt-4o-mini's),
    under ``policy`` (default: the shipped one)."""
    clock = clock or Clock()
    policy = policy or shared_policy()
    catalog = default_catalog()
    plant = make_engine(f"sqlite:///{plant_file}")
    governed = GovernedTools(gate=Gate(policy, catalog, SqlSiteResolver(plant)), catalog=catalog, engine=plant,
                             today=TODAY)
    state_url = f"sqlite:///{home / 'state.db'}"
    state = make_engine(state_url)
    audit = AuditLog(state)
    audit.create_schema()
    store = ApprovalStore(state, clock=clock)
    store.create_schema()
    actions = GovernedActions(policy=policy, catalog=action_catalog(), router=ApprovalRouter(policy, clock=clock),
                              engine=plant, today=TODAY, as_of=governed.as_of, clock=clock)
    approvals = ActionApprovals(actions, store)
    checkpointer, _ = open_checkpointer(state_url)
    steps = ActionSteps(approvals, model_grant=grant or policy_grant(), fallback_grant=None)
    deps = AgentDeps(governed=governed, guard=TurnGuard(policy), model=model,
                     fallback=ScriptedChatModel(script=[AIMessage(content="fallback answer")], cycle=True),
                     identity=identity, actions=steps)
    copilot = Copilot(build_graph(deps, checkpointer), governed, audit, approvals)
    return ActionHarness(copilot, audit, approvals, clock, plant)


def calls(*specs: tuple[str, dict[str, Any], str]) -> AIMessage:
    """An AIMessage asking for several tool calls at once: ``(name, args, call_id)`` each."""
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": i} for n, a, i in specs])
