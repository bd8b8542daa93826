"""Name indexes over the plant lexicon: which item, supplier, machine or line a phrase refers to.

Each index is built once per model from the lexicon and answers with the
candidate ids a question's words point at. Resolution to a single id (or a
clarifying question) happens in :mod:`agent.rules.entities`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from agent.rules.lexicon import ItemEntry, PlantLexicon
from agent.rules.text import fold, words

__all__ = ["CustomerIndex", "ItemIndex", "Match", "NameIndex", "PhraseIndex", "SupplierIndex", "machine_phrases",
           "utility_asset_phrases"]

_GENERIC_SUPPLIER_WORDS = frozenset(
    words("inc llc co ltd corp gmbh sa de cv s a c v del y and the of company group"))


@dataclass(frozen=True)
class Match:
    """Token positions a phrase covered and what it named."""

    start: int
    end: int
    """Exclusive."""
    values: tuple[str, ...]


class PhraseIndex:
    """Exact phrase lookup over token stems, longest phrase first, one value set per phrase."""

    def __init__(self, pairs: Iterable[tuple[Sequence[str], str]]) -> None:
        table: dict[tuple[str, ...], set[str]] = {}
        for phrase, value in pairs:
            key = tuple(phrase)
            if key:
                table.setdefault(key, set()).add(value)
        self._by_first: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for key, values in table.items():
            self._by_first.setdefault(key[0], []).append((key, tuple(sorted(values))))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: (-len(e[0]), e[0]))

    def stems(self) -> set[str]:
        """Every stem in the index."""
        return {s for entries in self._by_first.values() for key, _ in entries for s in key}

    def find(self, stems: Sequence[str], taken: set[int]) -> list[Match]:
        """Non-overlapping matches in ``stems`` avoiding positions in ``taken`` (which it extends)."""
        found: list[Match] = []
        i = 0
        while i < len(stems):
            hit = None
            if i not in taken:
                for key, values in self._by_first.get(stems[i], ()):
                    end = i + len(key)
                    if tuple(stems[i:end]) == key and not taken.intersection(range(i, end)):
                        hit = Match(i, end, values)
                        break
            if hit is None:
                i += 1
                continue
            found.append(hit)
            taken.update(range(hit.start, hit.end))
            i = hit.end
        return found


def _name_parts(description: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The name words (alphabetic, before the first comma) and the specification words (the rest)."""
    head, _, tail = description.partition(",")
    head_words = words(head)
    name = tuple(dict.fromkeys(w for w in head_words if w.isalpha() and len(w) >= 2))
    spec = {w for w in head_words if w not in name} | set(words(tail))
    # 'M6x25' also answers to 'M6' and '25'.
    spec |= {part for w in list(spec) if re.fullmatch(r"[a-z]*\d+x\d+", w) for part in w.split("x")}
    return name, frozenset(spec)


class ItemIndex:
    """Items by description: every word of the name (before the first comma) must appear in the question."""

    def __init__(self, items: Iterable[ItemEntry]) -> None:
        self._entries: list[tuple[str, tuple[str, ...], frozenset[str]]] = []
        for item in items:
            # Free text in the master can carry junk (even planted instructions): only the leading words count.
            name, spec = _name_parts(fold(item.description)[:80])
            if name and any(len(w) >= 3 for w in name):
                self._entries.append((item.item_id, name, spec))
        # Entries by the first and by the last word of their name: a question names a handful of words, so
        # :meth:`find` looks only at the entries one of them can start (or end), not at every item of the plant.
        self._by_first: dict[str, list[int]] = {}
        self._by_last: dict[str, list[int]] = {}
        for at, (_, name, _) in enumerate(self._entries):
            self._by_first.setdefault(name[0], []).append(at)
            self._by_last.setdefault(name[-1], []).append(at)

    def _having(self, table: dict[str, list[int]], free: dict[str, int]
                ) -> list[tuple[str, tuple[str, ...], frozenset[str]]]:
        """The entries ``table`` files under one of the ``free`` words, in their original order."""
        found: set[int] = set()
        for word in free:
            found.update(table.get(word, ()))
        return [self._entries[at] for at in sorted(found)]

    def stems(self) -> set[str]:
        """Every stem of every item name (for the speller)."""
        return {s for _, name, spec in self._entries for s in (*name, *spec) if s.isalpha()}

    def find(self, stems: Sequence[str], taken: set[int]) -> tuple[tuple[str, ...], set[int]]:
        """Best-matching item ids (one = resolved, several = ambiguous) and the positions they used.

        Items whose whole name is present win (the longest name first, then the most specification words).
        Without one, an item whose head noun is present ('the 24 V 120 W motor') counts when at least two of
        its specification words are too.
        """
        free = {s: i for i, s in reversed(list(enumerate(stems))) if i not in taken}
        for s, i in list(free.items()):
            # '120W motor': a figure typed against its unit reads as the description's '120 W'.
            if unit := re.fullmatch(r"(\d+)([a-z]{1,2})", s):
                free.setdefault(unit.group(1), i)
                free.setdefault(unit.group(2), i)
            elif size := re.fullmatch(r"(\d+)x(\d+)", s):  # '45x3' reads as the description's '45 x 3'
                free.setdefault(size.group(1), i)
                free.setdefault("x", i)
                free.setdefault(size.group(2), i)
        # Each test below needs the name's first (or last) word among the free ones: only those entries are tried.
        starting = self._having(self._by_first, free)
        hits = [(item_id, name, spec) for item_id, name, spec in starting if all(w in free for w in name)]
        if hits:
            longest = max(len(name) for _, name, _ in hits)
            hits = [h for h in hits if len(h[1]) == longest]
        else:
            hits = [(i, n, s) for i, n, s in self._having(self._by_last, free)
                    if n[-1] in free and len(s & free.keys()) >= 2]
            if not hits:
                # 'the o-rings' for 'O-ring NBR, …': every word of the name but its last (a grade or material
                # code such as NBR, or the last of three or more words)
                hits = [(i, n, s) for i, n, s in starting
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


def _phrase_in(words: Sequence[str], free: dict[str, int]) -> bool:
    """True when ``words`` stand next to each other, in order, among the question's free words."""
    if not all(w in free for w in words):
        return False
    at = [free[w] for w in words]
    return all(b == a + 1 for a, b in pairwise(at))


class NameIndex:
    """Records by the words of their names; a match needs a distinctive word (or all of the name's words).

    ``generic`` words are left out of the names; ``weak`` words count towards a match but never make one
    alone (a customer called '... Solutions' is not named by the word 'solution').
    """

    def __init__(self, names: Iterable[tuple[str, str]], reserved: set[str],
                 generic: frozenset[str] = _GENERIC_SUPPLIER_WORDS, weak: frozenset[str] = frozenset()) -> None:
        self._entries: list[tuple[str, frozenset[str], frozenset[str]]] = []
        for record_id, name in names:
            tokens = frozenset(w for w in words(name) if w not in generic and len(w) > 1)
            anchors = frozenset(w for w in tokens
                                if w not in reserved and w not in weak and not w.isdigit() and len(w) >= 4)
            if tokens:
                self._entries.append((record_id, tokens, anchors))

    def stems(self) -> set[str]:
        """Every stem of every name."""
        return {w for _, tokens, _ in self._entries for w in tokens}

    def find(self, stems: Sequence[str], taken: set[int]) -> tuple[tuple[str, ...], set[int]]:
        """Best-matching ids and the positions of their words."""
        free = {s: i for i, s in reversed(list(enumerate(stems))) if i not in taken}
        scored = []
        for record_id, tokens, anchors in self._entries:
            present = tokens & free.keys()
            if (anchors & present) or (present == tokens and len(tokens) >= 2):
                scored.append((len(present), record_id, present))
        if not scored:
            return (), set()
        best = max(s[0] for s in scored)
        chosen = sorted((s for s in scored if s[0] == best), key=lambda s: s[1])
        used = {free[w] for s in chosen for w in s[2]}
        return tuple(s[1] for s in chosen), used


class SupplierIndex(NameIndex):
    """Suppliers by name words."""

    def __init__(self, lexicon: PlantLexicon, reserved: set[str]) -> None:
        super().__init__(((s.supplier_id, s.name) for s in lexicon.suppliers), reserved)


# Words of customer names that say what kind of business it is rather than which one.
_WEAK_CUSTOMER_WORDS = frozenset(words(
    "solutions group grupo services servicios systems supply center centers home national nacional prime great "
    "industrial distribution distribuidora wholesale retail cooperative equipment equipos process marine"))


class CustomerIndex(NameIndex):
    """Customers (of the sales orders) by name words; the id of a customer is its name."""

    def __init__(self, lexicon: PlantLexicon, reserved: set[str]) -> None:
        super().__init__(((c, c) for c in lexicon.customers), reserved, weak=_WEAK_CUSTOMER_WORDS)


_NUMBERED = re.compile(r"#\s*(\d{1,2})\b")
_MODEL_CODE = re.compile(r"\b([A-Z]{1,4})-?(\d{1,4})\b")


def machine_phrases(lexicon: PlantLexicon, aliases: Iterable[tuple[tuple[str, ...], str]]) -> PhraseIndex:
    """Phrases naming machines: the name words ('heat sealer'), the model code ('hs 200', 'hs200') and aliases.

    The value is the machine *name*; several machines share a name (one per line), so the caller narrows
    by line and site.
    """
    pairs: list[tuple[Sequence[str], str]] = []
    for machine in lexicon.machines:
        name = machine.name
        code = _MODEL_CODE.search(name)
        head = name[: code.start()] if code else name
        head_words = words(head.replace("#", " "))
        if head_words:
            pairs.append((head_words, name))
            if head_words[0] == "cnc" and len(head_words) > 1:
                pairs.append((head_words[1:], name))
        numbered = _NUMBERED.search(name)
        if numbered:
            # 'lathe 2', 'cnc lathe 2' for 'CNC Lathe CNC #2'
            bare = words(_NUMBERED.sub(" ", head).replace("#", " "))
            named = [w for w in bare if w not in ("cnc",)] or bare
            pairs += [((named[-1], numbered.group(1)), name), ((*bare, numbered.group(1)), name)] if named else []
        if code:
            letters, digits = code.group(1).lower(), code.group(2)
            pairs += [((letters, digits), name), ((letters + digits,), name)]
            pairs.append(((*head_words, letters, digits), name))
    alias_pairs = list(aliases)
    names = {m.name for m in lexicon.machines}
    for phrase, target in alias_pairs:
        for name in names:
            if name.lower().startswith(target.lower()):
                pairs.append((phrase, name))
    return PhraseIndex(pairs)


_RATING = re.compile(r"\s\d")


def utility_asset_phrases(lexicon: PlantLexicon) -> PhraseIndex:
    """Phrases naming the assets that are no machine (utilities such as 'Process chiller 120 kW'): the name
    before its rating ('process chiller') and its last word ('chiller'). The value is the asset id; the same
    utility at several sites shares a phrase, so the caller narrows by site."""
    pairs: list[tuple[Sequence[str], str]] = []
    for asset in lexicon.assets:
        if asset.machine_id:
            continue
        head = words(_RATING.split(asset.name, maxsplit=1)[0])
        if head:
            pairs.append((head, asset.asset_id))
            if len(head) > 1:
                pairs.append((head[-1:], asset.asset_id))
    return PhraseIndex(pairs)
