"""Checkpoint growth over a long thread: bytes the checkpointer adds per turn, early and late, and what the thread
stores in all against the raw bytes of its messages.

Growth must be linear: the graph keeps the last ``KEEP_TURNS`` turns of a thread
(older messages are removed), so every checkpoint holds a bounded state and the
bytes added per turn settle instead of growing with the thread's length. The copilot
also prunes superseded checkpoints after every run, so a thread stores about one
checkpoint however long it runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from langgraph.checkpoint.base import BaseCheckpointSaver

if TYPE_CHECKING:
    from server.runtime import RuntimeFactory

__all__ = ["QUESTIONS", "CheckpointGrowth", "checkpoint_bytes", "checkpoint_growth", "per_turn_growth"]

QUESTIONS = (
    "How much stock of FG-1001 do we have at P100?",
    "which purchase orders are overdue?",
    "Which items are below reorder point at Aurora?",
    "what is on order for CP-2039?",
    "which work orders are at risk in the next 7 days?",
    "Where is lot LOT-P100-0529 located?",
    "incoming receipts for RM-3001 this month",
    "any seal leak defects this month?",
    "how is Flexopack performing?",
    "Will we run out of CP-2039 in the next 3 weeks?",
)
"""Read questions pat.planner (P100) asks in turn; the rules model answers each with tool calls."""

USER = "pat.planner"
_TABLES = ("checkpoints", "writes")


@dataclass(frozen=True)
class CheckpointGrowth:
    """Bytes added to the checkpoint tables per turn over the first and the last ``window`` turns."""

    first_20: float
    last_20: float
    turns: int
    window: int
    keep_turns: int
    sizes: tuple[int, ...]
    """Checkpoint-table bytes before the first turn and after each turn (only the measured thread is stored)."""
    raw_message_bytes: int = 0
    """UTF-8 bytes of the thread's messages as exchanged: every question asked and every answer given."""
    kept_message_bytes: int = 0
    """UTF-8 bytes of the message contents the thread's latest state holds (the last ``keep_turns`` turns)."""
    pruned: bool = True
    """The copilot pruned superseded checkpoints after each run (its default)."""

    @property
    def stored_vs_raw(self) -> float:
        """Checkpoint-table bytes after the last turn ÷ :attr:`raw_message_bytes`."""
        return self.sizes[-1] / self.raw_message_bytes if self.raw_message_bytes else float("nan")


def checkpoint_bytes(database: Path) -> int:
    """Bytes the checkpoint tables and their indexes occupy in ``database`` (SQLite dbstat, page level)."""
    with sqlite3.connect(database) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE tbl_name IN (?, ?)", _TABLES)]
        if not names:
            return 0
        marks = ", ".join("?" for _ in names)
        row = conn.execute(f"SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ({marks})", names).fetchone()
    return int(row[0])


def per_turn_growth(sizes: Sequence[int], window: int = 20) -> tuple[float, float]:
    """Mean bytes added per turn over the first and the last ``window`` turns.

    ``sizes[0]`` is the size before the first turn, ``sizes[i]`` after turn ``i``; at least
    ``window`` turns are needed.
    """
    turns = len(sizes) - 1
    if window < 1 or turns < window:
        raise ValueError(f"need at least {window} turns of sizes, got {max(turns, 0)}")
    return (sizes[window] - sizes[0]) / window, (sizes[-1] - sizes[-1 - window]) / window


def _utf8(value: object) -> int:
    return len(str(value).encode("utf-8"))


def checkpoint_growth(home: Path, *, factory: RuntimeFactory, turns: int = 200, window: int = 20,
                      progress: Callable[[str], None] | None = None, prune: bool = True) -> CheckpointGrowth:
    """Ask ``turns`` questions on one thread with the rules model under ``home`` (a runtime ``factory`` makes)
    and measure the growth; ``prune=False`` keeps every checkpoint (the copilot prunes by default)."""
    from agent.graph import KEEP_TURNS

    runtime = factory.runtime(home, model="rules")
    try:
        copilot = factory.copilot(runtime)
        copilot.prune_checkpoints = prune
        database = Path(str(runtime.state_engine.url.database))
        thread = "bench-long-thread"
        copilot.ask(USER, QUESTIONS[0], thread_id="bench-warm-up")  # tables exist, lexicon built
        saver = copilot.graph.checkpointer
        if isinstance(saver, BaseCheckpointSaver):  # the tables then hold the measured thread only
            saver.delete_thread("bench-warm-up")
        sizes = [checkpoint_bytes(database)]
        raw = 0
        for turn in range(turns):
            question = QUESTIONS[turn % len(QUESTIONS)]
            result = copilot.ask(USER, question, thread_id=thread)
            if result.paused:
                raise RuntimeError(f"turn {turn + 1} paused for approval; the growth bench needs read questions")
            raw += _utf8(question) + _utf8(result.answer)
            sizes.append(checkpoint_bytes(database))
            if progress and (turn + 1) % 50 == 0:
                progress(f"{turn + 1}/{turns} turns")
        first, last = per_turn_growth(sizes, window)
        values = copilot.graph.get_state({"configurable": {"thread_id": thread}}).values
        kept = sum(_utf8(m.content) for m in values.get("messages", []))
    finally:
        runtime.close()
    return CheckpointGrowth(first, last, turns, window, KEEP_TURNS, tuple(sizes), raw, kept, prune)
