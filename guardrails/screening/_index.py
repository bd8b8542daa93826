"""A literal prefilter so a screening call only runs the patterns that can possibly match.

For every compiled pattern we derive, from its parse tree, a set of *necessary
factors*: lowercase literal strings such that any match of the pattern contains
at least one of them (``ignore``/``disregard``/... for an "ignore previous
instructions" pattern). One trie-shaped regex over all factors of a stage scans
the lowercased text once; a pattern runs only when one of its factors occurred.
Patterns with no usable factor (the base64 candidate pattern, say) always run.

The analysis is conservative: when it cannot prove a factor is necessary (an
unknown regex construct, an optional part, a factor shorter than 3 characters)
the pattern is marked always-run, so the prefilter can cost speed, never recall.
It reads the regex parse tree through ``re._parser`` (CPython's own parser);
if that module is missing or changes shape, every pattern simply always runs.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any

__all__ = ["LiteralIndex", "lowercase_matcher", "min_width", "necessary_factors"]

_MAX_SET = 64  # larger exact-string sets are not worth tracking
_MIN_FACTOR = 3  # shorter factors are too common to filter anything
_ZERO_WIDTH = frozenset({"AT", "ASSERT", "ASSERT_NOT"})
# Words frequent in ordinary plant questions: a factor set holding one is a poor filter, so it loses ties.
_COMMON = frozenset({
    "the", "and", "for", "with", "this", "these", "that", "you", "your", "from", "are", "not", "was", "what",
    "have", "before", "above", "all", "any", "new", "now", "out", "act", "que", "los", "las",
})
_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})


def _parser() -> Any:
    try:
        return importlib.import_module("re._parser")
    except ImportError:  # pragma: no cover - other Python implementations
        return None


def _exact(seq: Sequence[tuple[Any, Any]]) -> set[str] | None:
    """Every string ``seq`` can match, when that set is small and finite; else ``None``."""
    acc: set[str] = {""}
    for op, av in seq:
        item = _exact_item(str(op), av)
        if item is None:
            return None
        acc = {a + b for a, b in product(acc, item)}
        if len(acc) > _MAX_SET:
            return None
    return acc


def _exact_item(op: str, av: Any) -> set[str] | None:
    if op == "LITERAL":
        return {chr(av).lower()}
    if op in _ZERO_WIDTH:
        return {""}
    if op == "IN":
        if all(str(k) == "LITERAL" for k, _ in av) and len(av) <= 8:
            return {chr(v).lower() for _, v in av}
        return None
    if op == "SUBPATTERN":
        return _exact(av[3])
    if op == "ATOMIC_GROUP":
        return _exact(av)
    if op == "BRANCH":
        out: set[str] = set()
        for branch in av[1]:
            sub = _exact(branch)
            if sub is None:
                return None
            out |= sub
        return out if len(out) <= _MAX_SET else None
    if op in _REPEATS:
        low, high, body = av
        if high > 1:
            return None
        sub = _exact(body)
        if sub is None:
            return None
        return sub | {""} if low == 0 else sub
    return None


def _score(cand: set[str]) -> tuple[bool, int, int]:
    return (not (cand & _COMMON), min(len(s) for s in cand), -len(cand))


def _factors(seq: Sequence[tuple[Any, Any]]) -> set[str] | None:
    """A set of strings one of which every match of ``seq`` contains; ``None`` when none is known."""
    candidates: list[set[str]] = []
    run: set[str] = {""}

    def close_run() -> None:
        if "" not in run and run:
            candidates.append(set(run))

    for op, av in seq:
        name = str(op)
        item = _exact_item(name, av)
        if item is not None and len(run) * len(item) <= _MAX_SET:
            run = {a + b for a, b in product(run, item)}
            continue
        close_run()
        run = {""}
        if item is not None:  # exact but too many combinations: restart the run from this item
            run = item
            continue
        sub = _factors_item(name, av)
        if sub:
            candidates.append(sub)
    close_run()
    good = [c for c in candidates if min(len(s) for s in c) >= _MIN_FACTOR]
    return max(good, key=_score) if good else None


def _factors_item(op: str, av: Any) -> set[str] | None:
    if op == "SUBPATTERN":
        return _factors(av[3])
    if op == "ATOMIC_GROUP":
        return _factors(av)
    if op in _REPEATS:
        low, _, body = av
        return _factors(body) if low >= 1 else None
    if op == "BRANCH":
        out: set[str] = set()
        for branch in av[1]:
            sub = _factors(branch)
            if sub is None:
                return None
            out |= sub
        return out
    return None


def necessary_factors(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Lowercase strings one of which every match of ``pattern`` contains, or ``None`` (always run)."""
    return _cached_factors(pattern.pattern, pattern.flags)


@lru_cache(maxsize=2048)  # rule sets are rebuilt when plants extend them; the analysis of a pattern never changes
def _cached_factors(source: str, flags: int) -> frozenset[str] | None:
    parser = _parser()
    if parser is None:
        return None
    try:
        parsed = parser.parse(source, flags)
        found = _factors(list(parsed.data))
    except Exception:  # any surprise in the private parser: fall back to always-run, never to a miss
        return None
    if found is None or not found or min(len(s) for s in found) < _MIN_FACTOR:
        return None
    return frozenset(found)


def min_width(pattern: re.Pattern[str]) -> int:
    """The fewest characters any match of ``pattern`` spans (0 when unknown).

    The same lower bound the regex compiler stores for the engine, which refuses
    a text shorter than it before trying anything; so skipping such texts up
    front never loses a match.
    """
    return _cached_min_width(pattern.pattern, pattern.flags)


@lru_cache(maxsize=2048)
def _cached_min_width(source: str, flags: int) -> int:
    parser = _parser()
    if parser is None:
        return 0
    try:
        low = parser.parse(source, flags).getwidth()[0]
    except Exception:  # any surprise in the private parser: assume nothing
        return 0
    return low if isinstance(low, int) and 0 <= low < 1 << 30 else 0


def _lowercase_source(source: str) -> str | None:
    """``source`` with every literal letter lowercased (escapes and group syntax kept), or ``None`` if unsure."""
    out: list[str] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            if source.startswith("\\N", i):  # named characters: not worth the risk
                return None
            out.append(source[i:i + 2])
            i += 2
        elif source.startswith("(?P", i):
            out.append("(?P")
            i += 3
        else:
            out.append(ch.lower())
            i += 1
    return "".join(out)


def lowercase_matcher(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """A case-sensitive twin of an IGNORECASE ``pattern`` for matching the *lowercased* text, or ``None``.

    Python's regex engine skips its fast literal/charset scans under
    IGNORECASE; matching a lowercased copy of the text with lowercased literals
    is equivalent for our normalized text (lowercasing keeps its length) and
    several times faster. ``None`` means: match ``pattern`` on the text itself.
    """
    if not pattern.flags & re.IGNORECASE:
        return None
    source = _lowercase_source(pattern.pattern)
    if source is None:
        return None
    try:
        twin = re.compile(source, pattern.flags & ~re.IGNORECASE)
    except re.error:
        return None
    return twin if twin.groupindex == pattern.groupindex else None


def _trie_regex(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, shaped as a trie and preferring the longest word at a position."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


@dataclass(frozen=True)
class LiteralIndex:
    """Which patterns (by key) may match a text, from one scan for their necessary factors."""

    scanner: re.Pattern[str] | None
    """Trie regex over every factor; ``None`` when no pattern has one."""
    credits: dict[str, frozenset[int]]
    """Matched factor → keys of the patterns it enables (including patterns of factors that are its prefixes)."""
    always: frozenset[int]
    """Keys of the patterns without a usable factor."""

    @classmethod
    def build(cls, patterns: Sequence[re.Pattern[str]]) -> LiteralIndex:
        """Index ``patterns``; a pattern's key is its position in the sequence."""
        by_factor: dict[str, set[int]] = {}
        always: set[int] = set()
        for key, pattern in enumerate(patterns):
            factors = necessary_factors(pattern)
            if factors is None:
                always.add(key)
                continue
            for factor in factors:
                by_factor.setdefault(factor, set()).add(key)
        # The scanner reports the longest factor starting at a position; credit the shorter ones it extends.
        credits = {
            factor: frozenset(k for other, keys in by_factor.items() if factor.startswith(other) for k in keys)
            for factor in by_factor
        }
        scanner = re.compile(_trie_regex(by_factor)) if by_factor else None
        return cls(scanner, credits, frozenset(always))

    def candidates(self, lowered: str) -> frozenset[int]:
        """Keys of the patterns that may match ``lowered`` (a lowercased text)."""
        if self.scanner is None:
            return self.always
        search = self.scanner.search
        m = search(lowered)
        if m is None:  # the common case: no factor at all
            return self.always
        found: set[int] = set(self.always)
        # Restart one past each match start (not at its end) so overlapping factors are all seen.
        while m is not None:
            found |= self.credits[m.group()]
            m = search(lowered, m.start() + 1)
        return frozenset(found)
