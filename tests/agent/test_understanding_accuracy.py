"""Question understanding, end to end: the held-out set (tests/agent/data/understanding_heldout.yaml, written before
the model changed and never tuned on) runs conversation by conversation through the real copilot on the seed-7
demo plant with the corpus ingested. The printed report (``-s``) gives accuracy per part, intent, style and
language and every failure; the floor below is the measured level (a ratchet: raise it as the model improves,
never lower it to make a change pass)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.copilot import Copilot
from guardrails.identity import User
from server.runtime import Runtime, build_copilot, build_runtime
from server.settings import Settings
from tests.agent.oracle import OracleContext
from tests.agent.understanding_helpers import DATA, dev_floor, load_conversations, report, run_conversation
from tests.factories import TODAY
from tests.policy_helpers import shipped_policy

HELD_OUT_FLOOR = 0.742
"""Held-out turn accuracy the rules model must keep. Measured before the issue-14 model work: 76/233 = 0.326
(none of the six new tools or their intents existed yet; Spanish 2/50, follow-ups 13/79, requests with context 1/13).
After the tools, the semantic stage and the new intents and writers: 109/233 = 0.468 (Spanish 3/50, follow-ups
22/79, requests with context 2/13). With requests with context: 113/233 = 0.485 (context 6/13). With Spanish
(rewording + localized answers) and dialogue state (follow-ups refine the thread's last understood turn):
148/233 = 0.635 (Spanish 25/50, follow-ups 38/79, context 7/13). After tuning on development sets only (paraphrases
per intent, more dialogue and Spanish, then two dev sets written blind to the model): 164/233 = 0.704 (Spanish
34/50, follow-ups 41/79, context 8/13); after a second round on the blind dev sets: 167/233 = 0.717 (Spanish 35/50,
follow-ups 43/79); after a third blind-dev round (follow-ups, Spanish; tuned on the new dev sets only):
173/233 = 0.742 (Spanish 36/50, follow-ups 48/79)."""
HELD_OUT2_FLOOR = 0.657
"""Held-out set 2 (written blind on 2026-12-07, after the Spanish and dialogue work, before any further change).
Measured on the model as it stood when the set was committed: 83/149 = 0.557 (en 69/111, es 14/38, follow-ups
26/62, context 5/10, clarify 1/6). After the development-set work that followed: 92/149 = 0.617 (en 75/111, es
17/38, follow-ups 29/62, context 7/10, clarify 2/6); after the second blind-dev round: 93/149 = 0.624 (follow-ups
30/62); after the third blind-dev round: 98/149 = 0.658 (es 18/38, follow-ups 34/62)."""


@pytest.fixture
def runtime(private_knowledge_home: Path) -> Iterator[Runtime]:
    built = build_runtime(Settings.from_env({"JIDOKA_HOME": str(private_knowledge_home),
                                             "JIDOKA_TODAY": TODAY.isoformat()}))
    yield built
    built.close()


@pytest.fixture
def ctx_for(runtime: Runtime, demo_manifest: dict[str, Any]) -> Callable[[User], OracleContext]:
    """The oracle context of an asking user: the plant, their sites, today and the planted scenarios."""
    policy = shipped_policy()

    def context(user: User) -> OracleContext:
        return OracleContext(runtime.data_engine, policy.user_sites(user) if user.sites is not None else None,
                             TODAY, demo_manifest)
    return context


HELD_OUT3_FLOOR = 0.655
"""Held-out set 3 (written blind on 2026-12-07 by a writer who read neither the model nor any other set; merged
after most of the third blind-dev round, which never saw it). First measured on that model: 116/180 = 0.644
(en 92/131, es 24/49, follow-ups 34/65, context 10/21); after the rest of the round: 118/180 = 0.656."""

HELD_OUT_FLOORS = {"understanding_heldout": HELD_OUT_FLOOR, "understanding_heldout2": HELD_OUT2_FLOOR,
                   "understanding_heldout3": HELD_OUT3_FLOOR}


@pytest.mark.parametrize("name", sorted(HELD_OUT_FLOORS))
def test_held_out_understanding(name: str, runtime: Runtime, ctx_for: Callable[[User], OracleContext]) -> None:
    """A held-out set (written before the model changes it measures; never tuned on) and its measured floor."""
    copilot: Copilot = build_copilot(runtime)
    policy = shipped_policy()

    outcomes = [o for conversation in load_conversations(name)
                for o in run_conversation(copilot, policy, conversation, "heldout", ctx_for)]
    text = report(outcomes)
    print(name, text, sep="\n")
    accuracy = sum(o.ok for o in outcomes) / len(outcomes)
    assert accuracy >= HELD_OUT_FLOORS[name], text


DEV_SETS = sorted(p.stem for p in DATA.glob("understanding_dev*.yaml"))


@pytest.mark.parametrize("name", DEV_SETS)
def test_dev_understanding(name: str, runtime: Runtime, ctx_for: Callable[[User], OracleContext]) -> None:
    """A development set (written while changing the model; tuning on it is its purpose) and its own floor."""
    copilot = build_copilot(runtime)
    policy = shipped_policy()

    outcomes = [o for conversation in load_conversations(name)
                for o in run_conversation(copilot, policy, conversation, "dev", ctx_for)]
    text = report(outcomes)
    print(name, text, sep="\n")
    assert outcomes and sum(o.ok for o in outcomes) / len(outcomes) >= dev_floor(name), text
