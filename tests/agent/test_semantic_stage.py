"""The rules model's semantic stage: example matching with a margin, a clarifying question on a tie, no guess
otherwise, record ids masked; embedded only when the cues place nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from agent.rules import PlantLexicon, RulesChatModel
from agent.rules.planner import ToolPlan, UserContext
from agent.rules.semantic import ExampleIndex, mask_ids
from knowledge.embeddings import MiniLMEmbedder
from tests.factories import TODAY

WORDS = ("stock", "lot", "ship", "spare", "asset", "order", "late", "machine", "fail", "customer")


class BagOfWords:
    """A deterministic stand-in embedder: one dimension per known word plus one for "none of them", unit length
    (counts calls)."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            hits = [float(w in text.lower().split()) for w in WORDS]
            vector = np.array([*hits, 0.0 if any(hits) else 1.0])
            out.append((vector / np.linalg.norm(vector)).tolist())
        return out


DATA: dict[str, Any] = {
    "threshold": 0.5, "margin": 0.1, "ask_margin": 0.02, "top_k": 1,
    "intents": {"lot_status": ["can we ship the lot", "lot ship"],
                "spare_parts": ["spare for the asset", "asset spare"],
                "sales_orders": ["customer order late", "late customer order"],
                "late_pos": ["late order", "order late"]},
}


def test_ids_are_masked_to_their_kind() -> None:
    assert mask_ids("can we ship LOT-P100-0483 to SO-30109 from P100?") == "can we ship lot to sales order from site?"
    assert mask_ids("spares for AS-012 and SP-4036 on P100-PK1") == "spares for asset and item on line"


def test_a_clear_nearest_intent_is_chosen_with_its_runner_up() -> None:
    index = ExampleIndex(BagOfWords(), DATA)
    found = index.match("can we ship LOT-P100-0483")
    assert found is not None and found.decided and found.intent == "lot_status"
    assert found.score > found.runner_score + 0.1


def test_a_tie_between_two_intents_is_undecided_and_far_questions_get_nothing() -> None:
    index = ExampleIndex(BagOfWords(), {**DATA, "intents": {"a": ["late order"], "b": ["order late"]}})
    tie = index.match("order late")
    assert tie is not None and not tie.decided and {tie.intent, tie.runner_up} == {"a", "b"}
    assert ExampleIndex(BagOfWords(), DATA).match("the weather in Paris") is None


def test_examples_are_embedded_once_and_only_when_needed() -> None:
    embedder = BagOfWords()
    index = ExampleIndex(embedder, DATA)
    assert embedder.calls == 0  # building the index embeds nothing
    index.match("spare asset")
    index.match("lot ship")
    assert embedder.calls == 3 and index.embedded_questions == 2  # the examples once, then one per question


def test_unknown_intents_of_the_examples_are_left_out() -> None:
    index = ExampleIndex(BagOfWords(), DATA, known=["spare_parts"])
    assert set(index.intents) == {"spare_parts"}


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_shipped_examples_place_a_new_phrasing_with_minilm(minilm: MiniLMEmbedder) -> None:
    index = ExampleIndex(minilm)
    found = index.match("which pieces of equipment will probably break down soon")
    assert found is not None and found.decided and found.intent == "assets_at_risk"
    assert index.match("what is the capital of France") is None


def _ctx(model: RulesChatModel) -> UserContext:
    tools = frozenset({"items_below_reorder", "inventory_lookup", "projected_stock", "work_orders_at_risk"})
    return UserContext(user_id="pat.planner", roles=frozenset({"planner"}), sites=frozenset({"P100"}),
                       today=TODAY, as_of="", tools=tools)


def test_the_planner_asks_the_semantic_stage_only_when_the_cues_place_nothing(demo_plant: Engine) -> None:
    embedder = BagOfWords()
    model = RulesChatModel(lexicon=PlantLexicon.from_engine(demo_plant), embedder=embedder)
    planner = model.planner
    plan = planner.plan("how much FG-1001 do we have at P100?", _ctx(model))
    assert isinstance(plan, ToolPlan) and plan.calls[0].name == "inventory_lookup"
    assert embedder.calls == 0  # the cues placed it: nothing was embedded
    planner.plan("zzz qqq", _ctx(model))
    assert embedder.calls == 2  # the cues placed nothing: the examples, then the question
    planner.plan("zzz qqq", _ctx(model))
    assert embedder.calls == 2  # the same question again (a thread re-reads its history): no new embedding
