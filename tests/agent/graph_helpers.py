"""Builders for graph tests: a copilot on the demo plant with a scripted model of our own."""

from __future__ import annotations

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

from agent.copilot import Copilot
from agent.scripted import ScriptedChatModel
from guardrails.approvals.models import ApprovalRequest, DecisionKind
from guardrails.approvals.service import ActionApprovals
from guardrails.approvals.store import ApprovalStore
from guardrails.audit.log import AuditLog
from guardrails.policy.loader import Policy
from guardrails.policy.models import ApprovedModel, ModelPolicy
from guardrails.tracing import TurnTracing
from server.runtime import RuntimeOverrides, build_runtime
from server.runtime import build_copilot as build_root_copilot
from server.settings import Settings
from tests.policy_helpers import shipped_policy
from tools import make_engine
from tools.actions import ensure_action_tables


def identity(model: BaseChatModel, reply: AIMessage | None) -> dict[str, Any]:
    return {"provider": "test", "model": getattr(model, "model_name", "?"), "version": "0"}


def _settings(home: Path, plant_url: str, state_url: str | None = None) -> Settings:
    """Settings on ``plant_url`` with the state (audit, approvals, checkpoints) in ``state_url``, by default one
    SQLite file under ``home``. A Postgres state database is brought to the schema first, as `jidoka db upgrade`
    would."""
    env = {"JIDOKA_HOME": str(home), "JIDOKA_DATA_URL": plant_url}
    if state_url is not None:
        env["JIDOKA_STATE_URL"] = state_url
        if not state_url.startswith("sqlite"):
            from server.schema import upgrade_state

            engine = make_engine(state_url)
            try:
                upgrade_state(engine, state_url)
            finally:
                engine.dispose()
    return Settings.from_env(env)


def _fallback() -> ScriptedChatModel:
    return ScriptedChatModel(script=[AIMessage(content="fallback answer")], cycle=True)


def build_copilot(plant: Engine, home: Path, model: BaseChatModel, fallback: BaseChatModel | None = None,
                  state_url: str | None = None, tracing: TurnTracing | None = None) -> tuple[Copilot, AuditLog]:
    """A copilot that only reads, whose state lives under ``home`` (audit and checkpoints in one SQLite file).

    Built by the composition root on ``plant``'s database, taken as it is (``prepare_plant=False``): the session's
    shared demo plant is only ever read. The runtime is left to the garbage collector with the copilot, which
    holds its checkpointer for as long as the test uses it.
    """
    overrides = RuntimeOverrides(policy=shared_policy(), prepare_plant=False, model=model,
                                 fallback=fallback or _fallback(), identity=identity, model_grant=None,
                                 fallback_grant=None)
    runtime = build_runtime(_settings(home, plant.url.render_as_string(hide_password=False), state_url), overrides,
                            tracing=tracing)
    return build_root_copilot(runtime), runtime.audit

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


def shared_policy() -> Policy:
    """The shipped policy, loaded once per test process (:func:`tests.policy_helpers.shipped_policy`)."""
    return shipped_policy()


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


def build_action_copilot(plant_file: Path | str, home: Path, model: BaseChatModel, *,
                         grant: ApprovedModel | None = None, clock: Clock | None = None,
                         policy: Policy | None = None, state_url: str | None = None) -> ActionHarness:
    """A copilot on ``plant_file`` (an SQLite file, or a database URL) that may propose actions (as ``grant``
    allows: default gpt-4o-mini's), under ``policy`` (default: the shipped one), its state in ``state_url``
    (default: SQLite under ``home``)."""
    clock = clock or Clock()
    # The plant is taken as it is: copy_plant added the action tables, and some tests drop them on purpose.
    overrides = RuntimeOverrides(policy=policy or shared_policy(), clock=clock, prepare_plant=False, model=model,
                                 fallback=_fallback(), identity=identity, model_grant=grant or policy_grant(),
                                 fallback_grant=None)
    plant_url = plant_file if isinstance(plant_file, str) else f"sqlite:///{plant_file}"
    runtime = build_runtime(_settings(home, plant_url, state_url), overrides)
    copilot = build_root_copilot(runtime)
    return ActionHarness(copilot, runtime.audit, runtime.approvals, clock, runtime.data_engine)

def calls(*specs: tuple[str, dict[str, Any], str]) -> AIMessage:
    """An AIMessage asking for several tool calls at once: ``(name, args, call_id)`` each."""
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": i} for n, a, i in specs])
