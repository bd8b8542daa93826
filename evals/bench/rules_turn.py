"""CPU of a governed turn answered by the offline rules model, and how often its semantic stage embeds.

The ``turn`` section's other figures use a scripted model, so they do not move when the rules model's
understanding changes; these two do. Each turn is a fresh thread (no dialogue history) asking one of the chat
load's questions (:data:`evals.bench.chat.LOAD`) as its user, in process; the model has its MiniLM embedder, so a
question its lexical cues do not place pays for one sentence embedding (the first such question also embeds the
example utterances, which warm-up absorbs).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evals.bench.chat import LOAD
from evals.bench.figures import BenchContext, BenchFigure
from evals.bench.plant import demo_home
from evals.bench.stats import Spread, spread

if TYPE_CHECKING:
    from server.runtime import RuntimeFactory

__all__ = ["RulesTurns", "rules_turn_figures", "rules_turns"]


@dataclass(frozen=True)
class RulesTurns:
    """Process CPU per governed rules-model turn over ``rounds`` rounds, and the semantic stage's share."""

    cpu_ms: Spread
    rounds: int
    turns_per_round: int
    embedded: int
    """Distinct questions the semantic stage had to embed."""
    questions: int
    """Distinct questions asked."""


def rules_turns(factory: RuntimeFactory, home: Path, rounds: int) -> RulesTurns:
    """Ask every (user, question) of the chat load ``rounds`` times (after one warm-up pass) on the demo plant in
    ``home`` and time each round."""
    from agent.rules import PlantLexicon, RulesChatModel
    from knowledge.embeddings import MiniLMEmbedder

    runtime = factory.runtime(home, model="rules")
    try:
        model = RulesChatModel(lexicon=PlantLexicon.from_engine(runtime.data_engine), embedder=MiniLMEmbedder())
        copilot = factory.copilot(runtime, factory.overrides(model=model))
        asks = [(user, question) for user, questions in LOAD.items() for question in questions]
        for user, question in asks:  # lexicon, examples' embeddings, caches, prepared statements
            copilot.ask(user, question)
        per_round: list[float] = []
        for _ in range(rounds):
            start = time.process_time()
            for user, question in asks:
                copilot.ask(user, question)
            per_round.append((time.process_time() - start) / len(asks) * 1000)
        semantic = model.planner.semantic
        embedded = semantic.embedded_questions if semantic is not None else 0
    finally:
        runtime.close()
    return RulesTurns(spread(per_round), rounds, len(asks), embedded, len({q for _, q in asks}))


def rules_turn_figures(ctx: BenchContext) -> list[BenchFigure]:
    """``rules_turn_cpu_ms`` and ``rules_semantic_embed_share``."""
    factory = ctx.runtimes()
    result = rules_turns(factory, demo_home(ctx.tmp, factory.settings.today), 3 if ctx.quick else 10)
    cond = (f"median of {result.rounds} rounds (range {result.cpu_ms.low:.2f}–{result.cpu_ms.high:.2f}) × "
            f"{result.turns_per_round} governed turns, each a fresh thread asking one of the chat load's questions "
            "as its user (evals/bench/chat.py LOAD), in process, rules model with its MiniLM embedder, SQLite state; "
            "process CPU time (all threads); one warm-up pass first")
    share = result.embedded / result.questions if result.questions else 0.0
    return [BenchFigure("rules_turn_cpu_ms", result.cpu_ms.median, "ms", "", cond),
            BenchFigure("rules_semantic_embed_share", share, "share", "",
                        f"{result.embedded} of the {result.questions} distinct chat-load questions needed the "
                        "semantic stage (one sentence embedding each); the others were placed by the lexical cues")]
