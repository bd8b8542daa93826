"""Builders for graph tests: a copilot on the demo plant with a scripted model of our own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from sqlalchemy import Engine

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
from tests.factories import TODAY
from tools import default_catalog, make_engine


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
