"""The shipped example utterances of the semantic stage (agent/rules/data/examples.yaml), measured with MiniLM:
enough varied examples per intent, leave-one-out top-1 accuracy (each example, taken out, must be placed in its own
intent by the others, with the stage's own scoring), and how often the paraphrase dev set needs the stage at all
(the cues should place most questions, so most questions cost no embedding). The floors are measured levels (a
ratchet: raise them as the examples improve, never lower them to make a change pass)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pytest
from sqlalchemy import Engine

from agent.rules import PlantLexicon, RulesChatModel
from agent.rules.planner import UserContext
from agent.rules.semantic import ExampleIndex
from knowledge.embeddings import MiniLMEmbedder
from tests.agent.understanding_helpers import load_conversations
from tests.factories import TODAY

MIN_EXAMPLES = 10
LOO_FLOOR = 0.70
"""Leave-one-out top-1 on examples.yaml: 85/170 = 0.500 before issue 14's paraphrase work (2-9 examples per
intent); 305/427 = 0.714 with at least ten varied examples per intent."""
EMBED_CEILING = 0.10
"""Share of the paraphrase dev set's questions that needed the semantic stage (measured: 10/426 = 0.023)."""


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def leave_one_out(index: ExampleIndex) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """Right, total and (right, total) per intent when each example is matched against all the others."""
    matrix = index._vectors()
    sims = matrix @ matrix.T
    right: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for i, own in enumerate(index.intents):
        per: dict[str, list[float]] = defaultdict(list)
        for j, (intent, sim) in enumerate(zip(index.intents, sims[i].tolist(), strict=True)):
            if j != i:
                per[intent].append(sim)
        best = max(per, key=lambda k: (float(np.mean(sorted(per[k], reverse=True)[:index.top_k])), k))
        total[own] += 1
        right[own] += best == own
    return sum(right.values()), len(index.intents), {k: (right[k], total[k]) for k in total}


def test_every_intent_has_enough_examples(minilm: MiniLMEmbedder) -> None:
    counts: dict[str, int] = defaultdict(int)
    for intent in ExampleIndex(minilm).intents:
        counts[intent] += 1
    assert {k: v for k, v in counts.items() if v < MIN_EXAMPLES} == {}


def test_leave_one_out_accuracy_of_the_examples(minilm: MiniLMEmbedder) -> None:
    right, total, per = leave_one_out(ExampleIndex(minilm))
    print(f"\nleave-one-out top-1: {right}/{total} = {right / total:.3f}")
    print(", ".join(f"{k} {r}/{t}" for k, (r, t) in sorted(per.items())))
    assert right / total >= LOO_FLOOR


class Counting:
    """MiniLM, counting the questions embedded (the examples' one batch aside)."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.questions = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of ``texts``."""
        self.questions += len(texts) == 1
        return self.inner.embed(texts)


def test_the_paraphrase_dev_set_rarely_needs_an_embedding(demo_plant: Engine, minilm: MiniLMEmbedder) -> None:
    embedder = Counting(minilm)
    planner = RulesChatModel(lexicon=PlantLexicon.from_engine(demo_plant), embedder=embedder).planner
    tools = frozenset(t.tool for i in planner.catalogue.intents for t in i.calls)
    ctx = UserContext(user_id="eve.exec", roles=frozenset({"executive"}), sites=None, today=TODAY, as_of="",
                      tools=tools)
    questions = [str(t["q"]) for c in load_conversations("understanding_dev_paraphrase") for t in c["turns"]]
    for question in questions:
        planner.plan(question, ctx)
    rate = embedder.questions / len(questions)
    print(f"\nsemantic stage used on {embedder.questions}/{len(questions)} = {rate:.3f} of the questions")
    assert rate <= EMBED_CEILING
