"""Superseded checkpoints are pruned after every run, on SQLite and Postgres, and nothing the product reads changes:
a thread continues with the same history, the history shown is the same, and a paused approval survives other
threads' turns (and its own thread's pruning) until it is decided and resumed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from sqlalchemy import Engine, text

from agent.copilot import Copilot
from agent.errors import ThreadAwaitingApproval
from agent.scripted import ScriptedChatModel
from server.api.chat import _messages
from tests.agent.approvals_helpers import HOLD, action_harness, relay
from tests.agent.graph_helpers import build_copilot, call, tool_results
from tools.plant.db import make_engine

READ = ("inventory_lookup", {"item_id": "RM-3001", "limit": 5})


def _answer(messages: list[BaseMessage]) -> AIMessage:
    # What the model saw (how many messages, the latest result) is in the answer: any change in the history a
    # continued thread hands the model shows up as a different answer.
    ids = [r.get("record_ids", [])[:2] for r in tool_results(messages)]
    return AIMessage(content=f"Saw {len(messages)} messages; records {ids[-1] if ids else []}.")


def _read_model() -> ScriptedChatModel:
    return ScriptedChatModel(script=[call(READ[0], READ[1], "c1"), _answer], cycle=True)


def _stored(state_url: str, thread_id: str) -> tuple[int, int]:
    """Checkpoints and pending writes stored for ``thread_id``."""
    engine = make_engine(state_url)
    writes = "writes" if engine.dialect.name == "sqlite" else "checkpoint_writes"
    try:
        with engine.connect() as conn:
            checkpoints = conn.execute(text("SELECT COUNT(*) FROM checkpoints WHERE thread_id = :t"),
                                       {"t": thread_id}).scalar_one()
            pending = conn.execute(text(f"SELECT COUNT(*) FROM {writes} WHERE thread_id = :t"),
                                   {"t": thread_id}).scalar_one()
    finally:
        engine.dispose()
    return int(checkpoints), int(pending)


def _history(copilot: Copilot, thread_id: str) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The thread as ``GET /v1/threads/{id}`` shows it, and the per-turn values that do not hold fresh ids."""
    values = copilot.graph.get_state({"configurable": {"thread_id": thread_id}}).values
    kept = {k: v for k, v in values.items() if k not in ("messages", "trace_id", "question_id")}
    return _messages(values), kept


@pytest.fixture
def second_state_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Another fresh state database on the backend under test (for the unpruned twin)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state-unpruned.db'}"
    return str(request.getfixturevalue("pg_database")())


def test_a_pruned_thread_continues_and_shows_the_same_history_as_an_unpruned_one(
        demo_plant: Engine, tmp_path: Path, state_url: str, second_state_url: str) -> None:
    pruned_model, unpruned_model = _read_model(), _read_model()
    pruned, _ = build_copilot(demo_plant, tmp_path / "a", pruned_model, state_url=state_url)
    unpruned, _ = build_copilot(demo_plant, tmp_path / "b", unpruned_model, state_url=second_state_url)
    unpruned.prune_checkpoints = False
    thread = "th-pruning-1"
    for turn in range(12):  # more than KEEP_TURNS, so the thread's own trimming is exercised too
        question = f"How much RM-3001 is there? ({turn})"
        a = pruned.ask("pat.planner", question, thread_id=thread)
        b = unpruned.ask("pat.planner", question, thread_id=thread)
        assert (a.answer, a.tool_calls, a.citations, a.unverified) == (b.answer, b.tool_calls, b.citations,
                                                                      b.unverified)
        assert _history(pruned, thread) == _history(unpruned, thread)
        assert _stored(state_url, thread) == (1, 0)  # only the latest checkpoint, nothing pending on it
        assert _stored(second_state_url, thread) == (turn + 1, 0)
    # The model was handed the same conversation on every call: the continued thread lost nothing it reads.
    assert [[(type(m).__name__, m.content) for m in c[1:]] for c in pruned_model.calls] == \
        [[(type(m).__name__, m.content) for m in c[1:]] for c in unpruned_model.calls]


def test_a_new_thread_keeps_its_only_checkpoint(demo_plant: Engine, tmp_path: Path, state_url: str) -> None:
    copilot, _ = build_copilot(demo_plant, tmp_path, _read_model(), state_url=state_url)
    copilot.ask("pat.planner", "How much RM-3001 is there?", thread_id="th-new")
    assert _stored(state_url, "th-new") == (1, 0)


def test_a_paused_approval_survives_pruning_and_other_threads_turns_then_resumes(
        plant_url: str, tmp_path: Path, state_url: str, cases: dict[str, dict[str, Any]]) -> None:
    chat = AIMessage(content="Noted.")
    h, _ = action_harness(plant_url, tmp_path, chat, call(HOLD, cases[HOLD], "c1"), chat, chat, chat, relay,
                          state_url=state_url)
    first = h.copilot.ask("sam.supervisor", "Good morning.")
    thread = first.thread_id
    paused = h.copilot.ask("sam.supervisor", "Hold the suspect film lot and its work orders.", thread_id=thread)
    assert paused.paused
    rid = paused.approvals[0]["id"]
    checkpoints, pending = _stored(state_url, thread)
    assert checkpoints == 1 and pending > 0  # the turn before is pruned; the pause and its interrupt are kept
    for _ in range(3):  # other threads' turns prune their own threads only
        h.copilot.ask("sam.supervisor", "Anything new?", thread_id="th-other")
    assert _stored(state_url, "th-other") == (1, 0)
    assert _stored(state_url, thread) == (checkpoints, pending)
    with pytest.raises(ThreadAwaitingApproval, match=rid):
        h.copilot.ask("sam.supervisor", "anything else?", thread_id=thread)

    h.decide(rid, "quinn.quality", "approve", "confirmed seal failures")
    done = h.copilot.resume(rid)

    assert not done.paused and done.approvals == [{"id": rid, "action": HOLD, "status": "executed"}]
    assert "Outcome: executed" in done.answer
    assert _stored(state_url, thread) == (1, 0)  # the pause is superseded once the run went on
    shown = _messages(h.copilot.graph.get_state({"configurable": {"thread_id": thread}}).values)
    assert [m["text"] for m in shown] == ["Good morning.", "Noted.", "Hold the suspect film lot and its work orders.",
                                          done.answer]
    assert h.audit.verify().ok


def test_a_busy_database_skips_pruning_and_the_next_run_catches_up(demo_plant: Engine, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.checkpoint as checkpoint_module

    state_url = f"sqlite:///{tmp_path / 'busy' / 'state.db'}"
    copilot, _ = build_copilot(demo_plant, tmp_path / "busy", _read_model(), state_url=state_url)
    thread = "th-busy"
    copilot.ask("pat.planner", "How much RM-3001 is there?", thread_id=thread)
    real = checkpoint_module._prune_sqlite

    def locked(saver: Any, thread_id: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(checkpoint_module, "_prune_sqlite", locked)
    answered = copilot.ask("pat.planner", "And now?", thread_id=thread)
    assert answered.answer.startswith("Saw ") and _stored(state_url, thread) == (2, 0)  # the turn stands
    monkeypatch.setattr(checkpoint_module, "_prune_sqlite", real)
    copilot.ask("pat.planner", "And now?", thread_id=thread)
    assert _stored(state_url, thread) == (1, 0)
