"""The runtime: every long-lived resource, built once at the edge from settings.

The CLI entry and the FastAPI lifespan build a :class:`Runtime`; nothing below
them creates engines or reads the environment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect

from guardrails.approvals.governed_actions import GovernedActions
from guardrails.approvals.routing import ApprovalRouter
from guardrails.approvals.service import ActionApprovals
from guardrails.approvals.store import ApprovalStore
from guardrails.audit.log import AuditLog
from guardrails.audit.trace import Trace
from guardrails.gate import Gate
from guardrails.governed import GovernedTools
from guardrails.locator import SqlSiteResolver
from guardrails.policy.loader import Policy, catalog_policy
from guardrails.turn_guard import TurnGuard
from knowledge.service import open_index
from knowledge.store import KnowledgeIndex
from server.settings import Settings
from tools import Catalog, default_catalog, make_engine
from tools.actions import ensure_action_tables
from tools.actions.catalog import action_catalog

if TYPE_CHECKING:
    from agent.copilot import Copilot

__all__ = ["Runtime", "build_copilot", "build_runtime", "knowledge_index"]


@dataclass(frozen=True)
class Runtime:
    """Resources shared by every request of one process."""

    settings: Settings
    policy: Policy
    catalog: Catalog
    data_engine: Engine
    state_engine: Engine
    audit: AuditLog
    tools: GovernedTools
    approvals: ActionApprovals
    """Governed actions (gate, execution on the plant) and approval requests (state database)."""
    knowledge: KnowledgeIndex | None = None
    """The document index (Chroma and the embedder open on first use, so commands without documents
    pay nothing)."""

    def trace(self, user_id: str, thread_id: str | None = None) -> Trace:
        """A new trace (one turn or one CLI call) for ``user_id``."""
        return Trace(trace_id=uuid.uuid4().hex, thread_id=thread_id, user_id=user_id,
                     policy_hash=self.policy.hash)

    def close(self) -> None:
        """Release database connections."""
        self.data_engine.dispose()
        self.state_engine.dispose()


def _prepare_plant(engine: Engine) -> None:
    """Add the action tables to an initialized plant built before they existed (never creates a plant)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            return
    if inspect(engine).has_table("plant_meta"):
        ensure_action_tables(engine)


def build_runtime(settings: Settings) -> Runtime:
    """Load the policy, open the databases and wire the gate (fails clearly if the plant is missing)."""
    catalog = default_catalog()
    policy = catalog_policy(settings.policy_dir, catalog)
    router = ApprovalRouter(policy)  # parses the actions section now: a bad or loosening layer fails at start
    data_engine = make_engine(settings.data_url)
    state_engine = make_engine(settings.state_url)
    _prepare_plant(data_engine)
    audit = AuditLog(state_engine)
    audit.create_schema()
    store = ApprovalStore(state_engine)
    store.create_schema()
    gate = Gate(policy, catalog, SqlSiteResolver(data_engine))
    knowledge = knowledge_index(settings)
    tools = GovernedTools(gate=gate, catalog=catalog, engine=data_engine, today=settings.today, knowledge=knowledge)
    actions = GovernedActions(policy=policy, catalog=action_catalog(), router=router, engine=data_engine,
                              today=settings.today, as_of=tools.as_of)
    return Runtime(settings=settings, policy=policy, catalog=catalog, data_engine=data_engine,
                   state_engine=state_engine, audit=audit, tools=tools, approvals=ActionApprovals(actions, store),
                   knowledge=knowledge)


def knowledge_index(settings: Settings) -> KnowledgeIndex:
    """The knowledge index these settings name (nothing is opened until it is used)."""
    return open_index(settings.home, embeddings=settings.embeddings, chroma_url=settings.chroma_url,
                      openai_base_url=settings.openai_base_url, openai_api_key=settings.openai_api_key,
                      timeout_s=settings.model_timeout_s)


def build_copilot(runtime: Runtime) -> Copilot:
    """The governed copilot: the configured model (refused at start-up unless the policy approves it), the
    rules model as fallback, and the checkpointer on the state database."""
    from agent.approval_node import ActionSteps
    from agent.checkpoint import open_checkpointer
    from agent.copilot import Copilot
    from agent.graph import AgentDeps, build_graph
    from agent.models import build_chat_model, model_identity
    from agent.rules import PlantLexicon, RulesChatModel
    from guardrails.policy.models import ModelPolicy, ModelSpec

    settings = runtime.settings
    spec = ModelSpec.parse(settings.model)
    models = ModelPolicy.from_policy(runtime.policy)
    grant = models.check(spec)
    lexicon: list[PlantLexicon] = []

    def rules_factory() -> RulesChatModel:
        if not lexicon:
            lexicon.append(PlantLexicon.from_engine(runtime.data_engine))
        return RulesChatModel(lexicon=lexicon[0])

    model = build_chat_model(spec, base_url=settings.openai_base_url, api_key=settings.openai_api_key,
                             timeout_s=settings.model_timeout_s, rules_factory=rules_factory)
    fallback = model if spec.provider == "rules" else rules_factory()
    checkpointer, _ = open_checkpointer(settings.state_url)
    # Which actions each model may propose comes from the policy's `models:` section (the rules model
    # answers degraded turns, so its own grant applies then).
    steps = ActionSteps(runtime.approvals, model_grant=grant, fallback_grant=models.approved.get("rules"))
    deps = AgentDeps(governed=runtime.tools, guard=TurnGuard(runtime.policy), model=model, fallback=fallback,
                     identity=model_identity, actions=steps)
    return Copilot(build_graph(deps, checkpointer), runtime.tools, runtime.audit, runtime.approvals)
