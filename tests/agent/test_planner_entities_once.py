"""The planner reads a question's entities once per plan: its plans equal those of the reading-twice path.

``Planner.plan`` extracts the question's entities and hands them to ``analyse`` (which used to extract them again).
The reference planner below drops the handed entities, as the old code did, so it reads the question twice; both
plan every question of the understanding sets as its user, alone and as a follow-up, and must agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from agent.rules import RulesChatModel
from agent.rules.entities import Entities
from agent.rules.planner import Analysis, Planner, UserContext
from guardrails.policy.loader import Policy
from tests.agent.test_dialogue import _schemas
from tests.agent.understanding_helpers import DATA
from tests.factories import AS_OF, TODAY


class ReadsTwice(Planner):
    """The reference: ``analyse`` extracts the question's entities itself, whatever the caller already has."""

    def analyse(self, question: str, ctx: UserContext, history: Sequence[str] = (), *,
                entities: Entities | None = None) -> Analysis:
        return super().analyse(question, ctx, history)


def _questions() -> list[tuple[str, list[str]]]:
    """(user, the questions of one conversation in order) from every understanding and rules-question file."""
    found: list[tuple[str, list[str]]] = []
    for path in sorted(DATA.glob("*.yaml")):
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        for conv in data.get("conversations", []):
            found.append((conv["user"], [t["q"] for t in conv["turns"]]))
        for part in ("dev", "heldout"):
            found += [(q["user"], [q["question"]]) for q in data.get(part, []) if "question" in q]
    return found


def _ctx(policy: Policy, user_id: str) -> UserContext:
    user = policy.user(user_id)
    schemas = {s["function"]["name"]: s["function"]["parameters"] for s in _schemas(policy, user_id)}
    return UserContext(user_id, frozenset(user.roles), user.sites, TODAY, AS_OF.isoformat(), frozenset(schemas),
                       schemas)


def test_plans_equal_the_reading_twice_reference(model: RulesChatModel, policy: Policy) -> None:
    fast = model.planner  # cues only (no semantic stage): it reads the question's text, not its entities
    slow = ReadsTwice(fast.catalogue, fast.resolver, fast.semantic)
    conversations = _questions()
    assert len(conversations) > 300  # the sets are found (a wrong path would make this test vacuous)
    ctxs: dict[str, UserContext] = {}
    compared = 0
    # Every third conversation (a fixed stride, so the same ones each run): the suite's time budget; every user is
    # still among them (checked below).
    chosen = conversations[::3]
    assert {u for u, _ in chosen} == {u for u, _ in conversations}
    for user_id, questions in chosen:
        ctx = ctxs.setdefault(user_id, _ctx(policy, user_id))
        for at, question in enumerate(questions):
            history = questions[:at]
            assert fast.plan(question, ctx, history) == slow.plan(question, ctx, history), (user_id, question)
            assert fast.analyse(question, ctx, history) == slow.analyse(question, ctx, history)
            compared += 1
    assert compared > 300
