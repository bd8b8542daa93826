"""The item index answers exactly as the full scan it replaced: every question of the labelled sets, and phrases made
from every item name of the demo plant, give the same ids and positions as the reference (every entry tested)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.rules import RulesChatModel
from agent.rules.names import ItemIndex
from tests.factories import TODAY

DATA = Path(__file__).parent / "data"


def _phrase_in(words: Sequence[str], free: dict[str, int]) -> bool:
    if not all(w in free for w in words):
        return False
    at = [free[w] for w in words]
    return all(b == a + 1 for a, b in pairwise(at))


def reference_find(index: ItemIndex, stems: Sequence[str], taken: set[int]) -> tuple[tuple[str, ...], set[int]]:
    """:meth:`ItemIndex.find` as it was before the word tables: every entry of the index tested, in order."""
    import re

    entries = index._entries
    free = {s: i for i, s in reversed(list(enumerate(stems))) if i not in taken}
    for s, i in list(free.items()):
        if unit := re.fullmatch(r"(\d+)([a-z]{1,2})", s):
            free.setdefault(unit.group(1), i)
            free.setdefault(unit.group(2), i)
        elif size := re.fullmatch(r"(\d+)x(\d+)", s):
            free.setdefault(size.group(1), i)
            free.setdefault("x", i)
            free.setdefault(size.group(2), i)
    hits = [(item_id, name, spec) for item_id, name, spec in entries if all(w in free for w in name)]
    if hits:
        longest = max(len(name) for _, name, _ in hits)
        hits = [h for h in hits if len(h[1]) == longest]
    else:
        hits = [(i, n, s) for i, n, s in entries if n[-1] in free and len(s & free.keys()) >= 2]
        if not hits:
            hits = [(i, n, s) for i, n, s in entries
                    if len(n) >= 2 and (len(n) >= 3 or len(n[-1]) <= 3) and _phrase_in(n[:-1], free)
                    and (len(n) >= 3 or bool(s & free.keys()))]
            if not hits:
                return (), set()
            hits = [(i, n[:-1], s) for i, n, s in hits]
    scored = [(len(spec & free.keys()), item_id, name, spec) for item_id, name, spec in hits]
    best = max(s[0] for s in scored)
    chosen = sorted((s for s in scored if s[0] == best), key=lambda s: s[1])
    used = {free[w] for _, _, name, spec in chosen for w in (*name, *(spec & free.keys())) if w in free}
    return tuple(s[1] for s in chosen), used


def _questions(node: Any) -> Iterator[str]:
    """Every question text of a labelled set (``q`` of a turn, ``question`` of a labelled question)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("q", "question") and isinstance(value, str):
                yield value
            else:
                yield from _questions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _questions(value)


def _synthetic(index: ItemIndex) -> Iterator[list[str]]:
    """Stems naming each item in the ways :meth:`ItemIndex.find` tells apart: the whole name, the name with
    specification words, the head noun with two of them, every word but the last, the words reversed."""
    for _, name, spec in index._entries:
        extra = sorted(spec)[:2]
        yield [*name]
        yield ["the", *name, *extra, "please"]
        yield [name[-1], *extra]
        yield [*name[:-1], "stock"]
        yield list(reversed(name))


@pytest.fixture(scope="module")
def item_index(model: RulesChatModel) -> ItemIndex:
    return model.planner.resolver._items


def test_every_labelled_question_finds_what_the_full_scan_found(model: RulesChatModel, item_index: ItemIndex,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[int] = []
    original = ItemIndex.find

    def checked(self: ItemIndex, stems: Sequence[str], taken: set[int]) -> tuple[tuple[str, ...], set[int]]:
        expected_taken = set(taken)
        expected = reference_find(self, stems, expected_taken)
        got = original(self, stems, taken)
        assert got == expected, stems
        assert taken == expected_taken
        compared.append(len(got[0]))
        return got

    monkeypatch.setattr(ItemIndex, "find", checked)
    questions = sorted({q for path in sorted(DATA.glob("*.yaml"))
                        for q in _questions(yaml.safe_load(path.read_text(encoding="utf-8")))})
    assert len(questions) > 500
    for question in questions:
        model.planner.resolver.extract(question, TODAY, None)
        model.planner.resolver.extract(question, TODAY, frozenset({"P100"}))
    assert len(compared) >= 2 * len(questions)
    assert sum(1 for n in compared if n) > 100  # many of them do name items: the comparison is not vacuous


def test_phrases_of_every_item_find_what_the_full_scan_found(item_index: ItemIndex) -> None:
    found = 0
    for stems in _synthetic(item_index):
        for taken in (set(), {0}):
            expected = reference_find(item_index, stems, set(taken))
            assert item_index.find(stems, set(taken)) == expected, (stems, taken)
            found += bool(expected[0])
    assert found > len(item_index._entries)  # most phrases name something
