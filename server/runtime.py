"""The composition root: every long-lived resource, the graph and the copilot, built in one place from settings.

The CLI commands and the FastAPI lifespan call :func:`build_runtime` and :func:`build_copilot`; tests pass
:class:`RuntimeOverrides` for what they replace (a scripted model, a clock, a cached policy). The eval harness
and the benchmarks never import this module at run time: ``jidoka eval`` and ``jidoka bench`` hand them a
:class:`RuntimeFactory`. Nothing else creates engines, the checkpointer, the graph or the copilot.

A :class:`Runtime` owns what it opened (engines, the checkpointer connection) and releases it in
:meth:`Runtime.close`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine

from guardrails.approvals.governed_actions import GovernedActions
from guardrails.approvals.routing import ApprovalRouter
from guardrails.approvals.service import ActionApprovals
from guardrails.approvals.store import ApprovalStore
from guardrails.audit.anchor import CheckpointSigner, TrustedKeys, parse_signing_key, parse_verify_key
from guardrails.audit.anchoring import AuditAnchor
from guardrails.audit.keys import KEK_FILE, AuditKeys, LocalKek
from guardrails.audit.log import AuditLog
from guardrails.audit.sealing import ALL_SITES_KEY, Sealer
from guardrails.audit.trace import Trace
from guardrails.gate import Gate
from guardrails.governed import GovernedTools
from guardrails.locator import SqlSiteResolver
from guardrails.monitoring import Monitor, SignalStore
from guardrails.policy.loader import Policy, catalog_policy
from guardrails.policy.models import ModelPolicy
from guardrails.policy.monitoring import MonitoringRules
from guardrails.policy.retention import RetentionRules
from guardrails.publishing import PublicationGate, Publications
from guardrails.tracing import TurnTracing
from guardrails.turn_guard import TurnGuard
from knowledge.embeddings import Embedder, MiniLMEmbedder
from knowledge.service import open_index
from knowledge.store import KnowledgeIndex
from server.databases import Database, reach
from server.schema import prepare_schema
from server.settings import Settings
from tools import Catalog, default_catalog, make_engine
from tools.actions.catalog import action_catalog

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from agent.checkpoint import CheckpointHandle
    from agent.copilot import Copilot
    from guardrails.policy.models import ApprovedModel

__all__ = ["FROM_POLICY", "Checkpoints", "FromPolicy", "Runtime", "RuntimeFactory", "RuntimeOverrides",
           "audit_anchor", "audit_sealer", "build_copilot", "build_runtime", "knowledge_index"]


class FromPolicy(Enum):
    """The marker of a grant left to the policy's ``models:`` section (``None`` is a real grant: no actions)."""

    GRANT = "from the policy"


FROM_POLICY: Final = FromPolicy.GRANT
"""The default of :attr:`RuntimeOverrides.model_grant` and :attr:`RuntimeOverrides.fallback_grant`."""


@dataclass(frozen=True)
class RuntimeOverrides:
    """What a test, an eval or a benchmark puts in place of the wiring the settings describe.

    ``policy``, ``clock`` and ``prepare_plant`` shape the runtime (pass them to :func:`build_runtime`); the others
    shape the copilot and may also be given to :func:`build_copilot` for one more copilot on the same runtime. A
    field left at its default means "as configured".
    """

    model: BaseChatModel | None = None
    """Answers turns instead of the model ``JIDOKA_MODEL`` names (which is then neither built nor checked, unless
    :attr:`model_grant` is left to the policy)."""
    fallback: BaseChatModel | None = None
    """Answers degraded turns instead of the rules model."""
    model_grant: ApprovedModel | FromPolicy | None = FROM_POLICY
    """What the answering model may propose: ``None`` no actions; by default the policy's grant of ``JIDOKA_MODEL``
    (an unapproved model is refused, as at start-up)."""
    fallback_grant: ApprovedModel | FromPolicy | None = FROM_POLICY
    """What the fallback may propose in a degraded turn: ``None`` no actions; by default the rules model's grant."""
    identity: Callable[[BaseChatModel, AIMessage | None], dict[str, Any]] | None = None
    """Provider, model and version of a model (and a reply) for the audit; default ``agent.models.model_identity``."""
    clock: Callable[[], datetime] | None = None
    """Wall time (aware) of the approval store, the approval routing and the governed actions; default UTC now."""
    policy: Policy | None = None
    """A policy already loaded (tests reuse a cached one); default: the one under ``JIDOKA_POLICY_DIR``, checked
    against the catalog."""
    prepare_plant: bool = True
    """Add the action tables an initialized plant lacks; ``False`` takes the plant as it is and never writes to it
    (a plant shared by many tests, or one that must stay as old as it is)."""


class Checkpoints:
    """The LangGraph checkpointer on the state database, owned by one :class:`Runtime`.

    Opened when the first copilot is built — commands that build none never touch it, and a state database the
    checkpointer cannot use fails only there — shared by every copilot of the runtime, closed by
    :meth:`Runtime.close`.
    """

    def __init__(self, state_url: str) -> None:
        self._state_url = state_url
        self._lock = threading.Lock()
        self._opened: tuple[BaseCheckpointSaver[Any], CheckpointHandle] | None = None

    def saver(self) -> BaseCheckpointSaver[Any]:
        """The checkpointer, opened on first use."""
        from agent.checkpoint import open_checkpointer

        with self._lock:
            if self._opened is None:
                self._opened = open_checkpointer(self._state_url)
            return self._opened[0]

    @property
    def connection(self) -> CheckpointHandle | None:
        """The open connection (SQLite) or pool (Postgres) under the checkpointer (``None`` before first use and
        after close)."""
        return self._opened[1] if self._opened is not None else None

    def close(self) -> None:
        """Close the connection (a copilot still holding the checkpointer fails on its next turn)."""
        with self._lock:
            if self._opened is not None:
                self._opened[1].close()
                self._opened = None


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
    checkpoints: Checkpoints
    """Thread checkpoints on the state database (what lets a thread continue across processes)."""
    knowledge: KnowledgeIndex | None = None
    """The document index (Chroma and the embedder open on first use, so commands without documents
    pay nothing)."""
    publications: Publications | None = None
    """Publishing documents into :attr:`knowledge` (governed; an approved replacement is published here)."""
    monitor: Monitor | None = None
    """The monitoring loop (detectors, signals, governed proposals) on this runtime's plant and state."""
    overrides: RuntimeOverrides = field(default_factory=RuntimeOverrides)
    """What the runtime was built with in place of the settings; :func:`build_copilot` uses it by default."""
    tracing: TurnTracing = field(default_factory=TurnTracing.off)
    """Spans of turns and governance steps (off unless the edge built a tracer provider: ``server.telemetry``);
    owned by the edge that built it, not closed by :meth:`close`."""

    def trace(self, user_id: str, thread_id: str | None = None) -> Trace:
        """A new trace (one turn or one CLI call) for ``user_id``."""
        return Trace(trace_id=uuid.uuid4().hex, thread_id=thread_id, user_id=user_id,
                     policy_hash=self.policy.hash)

    def close(self) -> None:
        """Anchor the audit chain's newest append, then release what the runtime opened: the checkpointer's
        connection and the database engines."""
        self.audit.close()
        self.checkpoints.close()
        self.data_engine.dispose()
        self.state_engine.dispose()


def build_runtime(settings: Settings, overrides: RuntimeOverrides | None = None, *,
                  tracing: TurnTracing | None = None) -> Runtime:
    """Load the policy, open the databases and wire the gate (fails clearly if the plant is missing);
    ``tracing`` (built at the edge, see ``server.telemetry``) gives the turns and their steps spans."""
    overrides = overrides or RuntimeOverrides()
    tracing = tracing or TurnTracing.off()
    catalog = default_catalog()
    policy = overrides.policy if overrides.policy is not None else catalog_policy(settings.policy_dir, catalog)
    # Parses the actions section now: a bad or loosening layer fails at start.
    router = ApprovalRouter(policy, clock=overrides.clock)
    publishing = PublicationGate(policy, clock=overrides.clock)  # the knowledge section too
    monitoring = MonitoringRules.from_policy(policy)  # and the monitoring section
    RetentionRules.from_policy(policy)  # and the audit retention rules
    if settings.embeddings.startswith("openai:"):  # document text goes to that endpoint: the hosting rules apply
        ModelPolicy.from_policy(policy).hosting.check(settings.embeddings, settings.openai_base_url)
    data_engine = make_engine(settings.data_url)
    state_engine = make_engine(settings.state_url)
    try:  # a server database that is down fails here, named, not in its first query
        reach(data_engine, Database.PLANT)
        reach(state_engine, Database.STATE)
        prepare_schema(data_engine, state_engine, settings.state_url, write_plant=overrides.prepare_plant)
    except BaseException:
        data_engine.dispose()
        state_engine.dispose()
        raise
    audit = AuditLog(state_engine, anchor=audit_anchor(settings), sealer=audit_sealer(settings, state_engine, policy))
    store = ApprovalStore(state_engine, clock=overrides.clock)
    gate = Gate(policy, catalog, SqlSiteResolver(data_engine))
    knowledge = knowledge_index(settings)
    tools = GovernedTools(gate=gate, catalog=catalog, engine=data_engine, today=settings.today, knowledge=knowledge,
                          tracing=tracing)
    actions = GovernedActions(policy=policy, catalog=action_catalog(), router=router, engine=data_engine,
                              today=settings.today, as_of=tools.as_of, clock=overrides.clock)
    publications = Publications(policy=policy, index=knowledge, store=store, gate=publishing, clock=overrides.clock)
    approvals = ActionApprovals(actions, store)
    monitor = Monitor(policy=policy, rules=monitoring, approvals=approvals,
                      store=SignalStore(state_engine, clock=overrides.clock), audit=audit, plant=data_engine,
                      as_of=tools.as_of, today=settings.today, clock=overrides.clock)
    return Runtime(settings=settings, policy=policy, catalog=catalog, data_engine=data_engine,
                   state_engine=state_engine, audit=audit, tools=tools, approvals=approvals,
                   checkpoints=Checkpoints(settings.state_url), knowledge=knowledge, publications=publications,
                   monitor=monitor, overrides=overrides, tracing=tracing)


def audit_anchor(settings: Settings) -> AuditAnchor | None:
    """The audit chain's anchor these settings describe: it signs checkpoints with ``JIDOKA_AUDIT_SIGNING_KEY``
    and trusts that key and ``JIDOKA_AUDIT_VERIFY_KEY``; None when neither is set."""
    if settings.audit_anchor is None:
        return None
    signer = CheckpointSigner(parse_signing_key(settings.audit_signing_key)) if settings.audit_signing_key else None
    trusted = TrustedKeys.of(parse_verify_key(key) for key in settings.audit_verify_keys)
    return AuditAnchor(settings.audit_anchor, trusted=trusted, signer=signer,
                       every_events=settings.audit_anchor_every, every_seconds=settings.audit_anchor_seconds)


def audit_sealer(settings: Settings, state_engine: Engine, policy: Policy | None = None) -> Sealer | None:
    """The sealer of the audit's sealed fields under the key-encryption key these settings name
    (``JIDOKA_AUDIT_KEK``, else ``$JIDOKA_HOME/audit.kek`` when it exists); ``None`` without one (stored in clear).

    A data key belongs to the event's user's site when ``policy`` gives that user exactly one site, else to
    every site (``*``), which is also what every event gets without ``policy`` (readers and the CLI's own events).
    """
    path = settings.home / KEK_FILE
    if settings.audit_kek:
        wrapper = LocalKek.parse(settings.audit_kek, source="JIDOKA_AUDIT_KEK")
    elif path.is_file():
        wrapper = LocalKek.parse(path.read_text(encoding="ascii"), source=str(path))
    else:
        return None

    def site_of(user_id: str) -> str:
        if policy is None or user_id not in policy.users:
            return ALL_SITES_KEY
        sites = policy.users[user_id].sites
        return next(iter(sites)) if sites is not None and len(sites) == 1 else ALL_SITES_KEY

    return Sealer(AuditKeys(state_engine, wrapper), site_of)


def knowledge_index(settings: Settings) -> KnowledgeIndex:
    """The knowledge index these settings name (nothing is opened until it is used)."""
    return open_index(settings.home, embeddings=settings.embeddings, chroma_url=settings.chroma_url,
                      openai_base_url=settings.openai_base_url, openai_api_key=settings.openai_api_key,
                      timeout_s=settings.model_timeout_s)


def build_copilot(runtime: Runtime, overrides: RuntimeOverrides | None = None) -> Copilot:
    """The governed copilot on ``runtime`` — the only place the graph and the copilot are built.

    By default: the configured model (refused unless the policy approves it), the rules model as fallback, each
    proposing what the policy's ``models:`` section grants it, and the runtime's checkpointer. ``overrides``
    (default: the runtime's own) replaces the model, the fallback, their grants or the identity function; its
    ``policy`` and ``clock`` must be the runtime's (they were wired when the runtime was built).
    """
    from agent.approval_node import ActionSteps
    from agent.copilot import Copilot
    from agent.graph import AgentDeps, build_graph
    from agent.models import build_chat_model, model_identity
    from agent.rules import PlantLexicon, RulesChatModel
    from guardrails.policy.models import ModelSpec

    wanted = runtime.overrides if overrides is None else overrides
    if (wanted.policy is not None and wanted.policy is not runtime.policy) or (
            wanted.clock is not None and wanted.clock is not runtime.overrides.clock):
        raise ValueError("the policy and clock overrides take effect in build_runtime, not in build_copilot")
    settings = runtime.settings
    models = ModelPolicy.from_policy(runtime.policy)
    lexicon: list[PlantLexicon] = []

    def rules_factory() -> RulesChatModel:
        if not lexicon:
            lexicon.append(PlantLexicon.from_engine(runtime.data_engine))
        return RulesChatModel(lexicon=lexicon[0], embedder=_rules_embedder(runtime))

    model, grant, configured_rules = wanted.model, wanted.model_grant, False
    if model is None or grant is FROM_POLICY:
        spec = ModelSpec.parse(settings.model)
        approved = models.check(spec)
        if spec.provider == "openai":  # where its prompts go: refused here, before any turn, unless allowed
            models.hosting.check(spec.id, settings.openai_base_url)
        grant = approved if grant is FROM_POLICY else grant
        if model is None:
            model = build_chat_model(spec, base_url=settings.openai_base_url, api_key=settings.openai_api_key,
                                     timeout_s=settings.model_timeout_s, rules_factory=rules_factory)
            configured_rules = spec.provider == "rules"
    if wanted.fallback is not None:
        fallback: BaseChatModel = wanted.fallback
    else:
        fallback = model if configured_rules else rules_factory()
    # Which actions each model may propose comes from the policy's `models:` section (the rules model answers
    # degraded turns, so its own grant applies then).
    fallback_grant = models.approved.get("rules") if wanted.fallback_grant is FROM_POLICY else wanted.fallback_grant
    steps = ActionSteps(runtime.approvals, model_grant=grant, fallback_grant=fallback_grant, tracing=runtime.tracing)
    deps = AgentDeps(governed=runtime.tools, guard=TurnGuard(runtime.policy), model=model, fallback=fallback,
                     identity=wanted.identity or model_identity, actions=steps, tracing=runtime.tracing)
    return Copilot(build_graph(deps, runtime.checkpoints.saver()), runtime.tools, runtime.audit, runtime.approvals,
                   tracing=runtime.tracing)


class RuntimeFactory:
    """Runtimes and copilots for code that must not import the server: the eval harness and the benchmarks.

    ``jidoka eval`` and ``jidoka bench`` make one from the settings those runs inherit and pass it in; tests that
    call the harness directly make their own. Every runtime it makes is the caller's to close.
    """

    overrides = RuntimeOverrides
    """The overrides type, so callers without a server import can make them: ``factory.overrides(model=...)``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        """The settings every runtime starts from (the plant's ``today`` among them)."""

    def settings_for(self, home: Path | str | None = None, *, data_url: str | None = None,
                     state_url: str | None = None, today: date | None = None, model: str | None = None) -> Settings:
        """The settings moved to ``home`` (its ``plant.db`` and ``state.db`` unless URLs are given), with
        another plant database, state database, plant 'today' or ``JIDOKA_MODEL`` where given."""
        base = self.settings
        if home is not None:
            root = Path(home).expanduser().resolve()
            base = replace(base, home=root, data_url=f"sqlite:///{root / 'plant.db'}",
                           state_url=f"sqlite:///{root / 'state.db'}")
        return replace(base, data_url=data_url or base.data_url, state_url=state_url or base.state_url,
                       today=today or base.today, model=model or base.model)

    def runtime(self, home: Path | str | None = None, *, data_url: str | None = None, state_url: str | None = None,
                today: date | None = None, model: str | None = None,
                overrides: RuntimeOverrides | None = None) -> Runtime:
        """A runtime on :meth:`settings_for` these arguments (close it when done)."""
        return build_runtime(self.settings_for(home, data_url=data_url, state_url=state_url, today=today,
                                               model=model), overrides)

    def copilot(self, runtime: Runtime, overrides: RuntimeOverrides | None = None) -> Copilot:
        """A copilot on ``runtime`` (see :func:`build_copilot`)."""
        return build_copilot(runtime, overrides)

    @contextmanager
    def checkpointer(self, state_url: str) -> Iterator[BaseCheckpointSaver[Any]]:
        """A checkpointer of the copilot's kind on ``state_url``, closed on exit: for an agent measured against
        the copilot (the CPU benchmark's bare ReAct agent), which must store its threads the same way."""
        checkpoints = Checkpoints(state_url)
        try:
            yield checkpoints.saver()
        finally:
            checkpoints.close()


def _rules_embedder(runtime: Runtime) -> Embedder:
    """The sentence embeddings of the rules model's semantic stage: always the offline MiniLM (the rules model
    must not depend on a remote endpoint); shared with the knowledge index when that one uses MiniLM too."""
    index = runtime.knowledge
    if index is not None and isinstance(index.embedder, MiniLMEmbedder):
        return index.embedder
    return MiniLMEmbedder()
