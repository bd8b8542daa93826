"""The cue prefilter (skip phrases whose words are absent; start only at a first word) changes no match.

The reference below is the exhaustive matcher the catalogue used before the prefilter: it tries every phrase at
every word position. Both run over every question of the labelled sets (tests/agent/data), as masked stems
(what the planner matches) and as plain stems, and must agree phrase by phrase and intent by intent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine

from agent.rules import PlantLexicon
from agent.rules.entities import EntityResolver
from agent.rules.intents import GAP, Cue, Intent, IntentCatalogue
from agent.rules.text import fold, tokenize
from agent.rules.vocab import Vocabulary
from tests.factories import TODAY

QUESTIONS = Path(__file__).parent / "data" / "rules_questions.yaml"


def _ref_at(cue: Cue, stems: Sequence[str], i: int, k: int) -> bool:
    if k == len(cue.elements):
        return True
    element = cue.elements[k]
    if element is None:
        return any(_ref_at(cue, stems, j, k + 1) for j in range(i, min(len(stems), i + GAP + 1)))
    return i < len(stems) and stems[i] in element and _ref_at(cue, stems, i + 1, k + 1)


def _ref_matches(cue: Cue, stems: Sequence[str]) -> bool:
    return any(_ref_at(cue, stems, i, 0) for i in range(len(stems)))


def _ref_score(intent: Intent, stems: Sequence[str]) -> float | None:
    if any(not any(_ref_matches(c, stems) for c in group) for group in intent.require):
        return None
    if any(_ref_matches(c, stems) for c in intent.exclude):
        return None
    return sum(weight for cue, weight in intent.cues if _ref_matches(cue, stems))


def _ref_match(catalogue: IntentCatalogue, stems: Sequence[str]) -> tuple[str, float, str | None] | None:
    scored = [(score, -i, intent) for i, intent in enumerate(catalogue.intents)
              if (score := _ref_score(intent, stems)) is not None and score > 0]
    if not scored:
        return None
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    return scored[0][2].name, scored[0][0], (scored[1][2].name if len(scored) > 1 else None)


def _all_cues(catalogue: IntentCatalogue) -> list[Cue]:
    cues: list[Cue] = []
    for intent in catalogue.intents:
        cues += [c for group in intent.require for c in group]
        cues += list(intent.exclude)
        cues += [c for c, _ in intent.cues]
    cues += [c for c, _ in catalogue.unsupported]
    cues += list(catalogue.help)
    return cues


@pytest.fixture(scope="module")
def stem_lists(demo_plant: Engine) -> list[tuple[str, tuple[str, ...]]]:
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    questions = [str(q["question"]) for part in ("dev", "heldout") for q in data[part]]
    catalogue = IntentCatalogue()
    resolver = EntityResolver(PlantLexicon.from_engine(demo_plant), Vocabulary.load(), catalogue.stems())
    out: list[tuple[str, tuple[str, ...]]] = []
    for question in questions:
        out.append((question, tuple(resolver.extract(question, TODAY, None).stems)))
        out.append((question, tuple(t.stem for t in tokenize(fold(question)))))
    return out


def test_the_sets_are_loaded(stem_lists: list[tuple[str, tuple[str, ...]]]) -> None:
    assert len(stem_lists) >= 2 * 230


def test_prefiltered_matching_equals_the_exhaustive_matcher(stem_lists: list[tuple[str, tuple[str, ...]]]) -> None:
    catalogue = IntentCatalogue()
    cues = _all_cues(catalogue)
    assert len(cues) > 1000
    hits = 0
    matched = 0
    for question, stems in stem_lists:
        present = frozenset(stems)
        for cue in cues:
            expected = _ref_matches(cue, stems)
            hits += expected
            assert cue.matches(stems) is expected, (question, cue.text)
            assert cue.matches(stems, present) is expected, (question, cue.text)
        for intent in catalogue.intents:
            assert intent.score(stems) == _ref_score(intent, stems), (question, intent.name)
        got = catalogue.match(stems)
        want = _ref_match(catalogue, stems)
        assert (None if got is None else (got.intent.name, got.score, got.runner_up)) == want, question
        matched += want is not None
        assert catalogue.unsupported_topic(stems) == next(
            (topic for cue, topic in catalogue.unsupported if _ref_matches(cue, stems)), None), question
        assert catalogue.is_help(stems) == (len(stems) <= 8 and any(_ref_matches(c, stems) for c in catalogue.help))
    # The comparison is only meaningful if the sets exercise both outcomes.
    assert hits > len(stem_lists)
    assert matched > len(stem_lists) // 2


def test_gaps_and_alternatives_still_match_with_the_prefilter() -> None:
    cue = Cue.parse("where .. used|consumed")
    for text, expected in [("where is the bolt used", True), ("where was it consumed", True),
                           ("used where", False), ("where a b c d e used", False), ("where", False)]:
        stems = [t.stem for t in tokenize(fold(text))]
        assert cue.matches(stems, frozenset(stems)) is expected is _ref_matches(cue, stems), text


@pytest.mark.parametrize("build", [
    lambda: Cue.parse(".. used"),
    lambda: Cue.parse("where .."),
    lambda: Cue("where ..", (frozenset({"where"}), None)),
    lambda: Cue("", ()),
])
def test_a_phrase_must_start_and_end_with_a_word(build: Callable[[], Cue]) -> None:
    with pytest.raises(ValueError, match="must start and end with a word"):
        build()


def test_a_phrase_starts_only_at_its_first_word() -> None:
    cue = Cue.parse("where .. used")
    assert cue.first == cue.elements[0] and cue.matches(["where", "is", "it", "used"])
