"""The composition root: the only place the graph, the copilot and the checkpointer are made, and what it owns.

The source walk proves there is exactly one construction site (``server/runtime.py``) and that the eval
harness and the benchmarks reach the server only through the runtime factory they are handed.
"""

from __future__ import annotations

import ast
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from agent.scripted import ScriptedChatModel
from guardrails.audit.anchor import generate_signing_key
from guardrails.audit.log import AuditEvent, AuditKind
from guardrails.policy.loader import Policy, load_policy
from server.runtime import Runtime, RuntimeFactory, RuntimeOverrides, build_copilot, build_runtime
from server.settings import Settings
from tests.policy_helpers import shipped_policy
from tools.demo.hashing import plant_content_hash
from tools.plant.db import make_engine

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "evals", "guardrails", "knowledge", "server", "tools", "tests")
BUILDERS = frozenset({"build_graph", "Copilot", "open_checkpointer"})
ROOT = "server/runtime.py"
CHAT_BENCH = frozenset({"evals/bench/chat.py", "evals/bench/_chat_server.py", "evals/bench/scale.py"})
"""The HTTP chat and scale-out benchmarks measure the server itself, so they may import it (lazily)."""


def _sources() -> list[tuple[str, ast.Module]]:
    out = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            out.append((path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8"))))
    return out


def _called(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def test_one_place_builds_the_graph_the_copilot_and_the_checkpointer() -> None:
    callers: dict[str, set[str]] = {name: set() for name in BUILDERS}
    aliased = []
    for module, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _called(node) in BUILDERS:
                callers[str(_called(node))].add(module)
            if isinstance(node, ast.ImportFrom):  # a renamed import would hide a call from this walk
                aliased += [f"{module}: {a.name} as {a.asname}" for a in node.names
                            if a.name in BUILDERS and a.asname not in (None, a.name)]
    assert callers == {name: {ROOT} for name in BUILDERS}
    assert aliased == []


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def test_evals_import_the_server_only_for_type_checking() -> None:
    found = []
    for module, tree in _sources():
        if not module.startswith("evals/") or module in CHAT_BENCH:
            continue
        typing_only = _type_checking_lines(tree)
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "server" or n.startswith("server.") for n in names) and node.lineno not in typing_only:
                found.append(f"{module}:{node.lineno}")
    assert found == []


@pytest.fixture(scope="module")
def policy() -> Policy:
    return shipped_policy()


def _settings(home: Path, demo_home: Path) -> Settings:
    return Settings.from_env({"JIDOKA_HOME": str(home), "JIDOKA_DATA_URL": f"sqlite:///{demo_home / 'plant.db'}"})


def test_close_closes_the_checkpointer_connection(demo_home: Path, tmp_path: Path, policy: Policy) -> None:
    runtime = build_runtime(_settings(tmp_path, demo_home), RuntimeOverrides(policy=policy, prepare_plant=False))
    assert runtime.checkpoints.connection is None  # opened by the first copilot, not by every command
    copilot = build_copilot(runtime)
    conn = runtime.checkpoints.connection
    assert isinstance(conn, sqlite3.Connection)
    assert copilot.ask("pat.planner", "How much stock of FG-1001 do we have at P100?").answer
    build_copilot(runtime)
    assert runtime.checkpoints.connection is conn  # one checkpointer per runtime, shared by its copilots
    runtime.close()
    assert runtime.checkpoints.connection is None
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    runtime.close()  # closing twice is harmless


def test_the_runtime_anchors_the_audit_chain_and_checkpoints_at_close(demo_home: Path, tmp_path: Path,
                                                                       policy: Policy) -> None:
    settings = Settings.from_env({"JIDOKA_HOME": str(tmp_path), "JIDOKA_DATA_URL": f"sqlite:///{demo_home}/plant.db",
                                  "JIDOKA_AUDIT_SIGNING_KEY": generate_signing_key()})
    runtime = build_runtime(settings, RuntimeOverrides(policy=policy, prepare_plant=False))
    assert runtime.audit.anchor is not None and runtime.audit.anchor.path == tmp_path.resolve() / "audit-anchors.jsonl"
    runtime.audit.append(AuditEvent("tr-1", None, "pat.planner", AuditKind.PROMPT, {"text": "hi"}, policy.hash))
    assert not runtime.audit.anchor.path.exists()  # 1 event: no checkpoint due yet
    runtime.close()
    report = runtime.audit.verify()
    assert report.ok and report.anchor is not None and report.anchor.last_matched_seq == 1


def test_overrides_take_effect(demo_home: Path, tmp_path: Path, policy: Policy) -> None:
    now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    def clock() -> datetime:
        return now

    def identity(model: object, reply: object) -> dict[str, str]:
        return {"provider": "override", "model": "scripted", "version": "0"}

    model = ScriptedChatModel(script=[AIMessage(content="the override model answers")])
    overrides = RuntimeOverrides(model=model, identity=identity, model_grant=None, clock=clock, policy=policy,
                                 prepare_plant=False)
    runtime = build_runtime(_settings(tmp_path, demo_home), overrides)
    try:
        assert runtime.policy is policy and runtime.approvals.actions.clock is clock
        result = build_copilot(runtime).ask("bea.buyer", "anything new?")
        assert result.answer == "the override model answers" and not result.degraded
        [request] = [r for r in runtime.audit.by_trace(result.trace_id) if r.kind == AuditKind.MODEL_REQUEST]
        assert request.payload["model"]["provider"] == "override"
        assert not [t for t in request.payload["tools"] if t in runtime.approvals.actions.catalog]  # no grant
        # The configured rules model, under its policy grant, is offered the buyer's actions.
        rules = build_copilot(runtime, RuntimeOverrides())
        offered = [r for r in runtime.audit.by_trace(rules.ask("bea.buyer", "which purchase orders are overdue?")
                                                     .trace_id) if r.kind == AuditKind.MODEL_REQUEST]
        assert any(t in runtime.approvals.actions.catalog for t in offered[0].payload["tools"])
        with pytest.raises(ValueError, match="build_runtime"):
            build_copilot(runtime, RuntimeOverrides(policy=load_policy()))
    finally:
        runtime.close()


def test_the_root_never_writes_to_a_shared_plant(demo_home: Path, tmp_path: Path, policy: Policy) -> None:
    engine = make_engine(f"sqlite:///{demo_home / 'plant.db'}")
    try:
        before = plant_content_hash(engine)
        for overrides in (RuntimeOverrides(policy=policy, prepare_plant=False), RuntimeOverrides(policy=policy)):
            runtime = build_runtime(_settings(tmp_path / str(overrides.prepare_plant), demo_home), overrides)
            try:
                build_copilot(runtime).ask("pat.planner", "which purchase orders are overdue?")
            finally:
                runtime.close()
        assert plant_content_hash(engine) == before
    finally:
        engine.dispose()


def test_the_factory_moves_settings_and_lends_a_checkpointer(tmp_path: Path) -> None:
    factory = RuntimeFactory(Settings.from_env({"JIDOKA_MODEL": "openai:gpt-4o-mini"}))
    moved = factory.settings_for(tmp_path / "box", model="rules", today=date(2026, 4, 1))
    assert moved.home == (tmp_path / "box").resolve()
    assert moved.data_url == f"sqlite:///{moved.home / 'plant.db'}"
    assert moved.state_url == f"sqlite:///{moved.home / 'state.db'}"
    assert (moved.model, moved.today) == ("rules", date(2026, 4, 1))
    assert factory.settings_for(state_url="sqlite:///elsewhere.db").data_url == factory.settings.data_url
    assert factory.overrides is RuntimeOverrides
    with factory.checkpointer(f"sqlite:///{tmp_path / 'baseline.db'}") as saver:
        conn = saver.conn  # the SqliteSaver's connection
        conn.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_a_factory_runtime_is_a_runtime(demo_home: Path, tmp_path: Path, runtime_factory: RuntimeFactory) -> None:
    runtime = runtime_factory.runtime(tmp_path, data_url=f"sqlite:///{demo_home / 'plant.db'}",
                                      overrides=runtime_factory.overrides(prepare_plant=False))
    try:
        assert isinstance(runtime, Runtime) and runtime.settings.home == tmp_path.resolve()
        assert runtime_factory.copilot(runtime).ask("pat.planner", "which purchase orders are overdue?").tool_calls
    finally:
        runtime.close()
