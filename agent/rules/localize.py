"""Answers in the user's language: the rules model's fixed wording, rewritten from one translation table.

The answer writers, the planner's replies and the request parser write English. For a user whose policy
record says ``language: es`` the finished text is rewritten with ``data/answers_es.yaml``: whole lines by
templates (word order changes with the language), then fixed fragments wherever they occur. What the tools
returned — record ids, figures, dates, names — passes through untouched, as do quoted text ("…", from
documents or records), citations ([…]) and code (`…`), so the grounding check and the citations hold in
either language. A sentence the table does not know stays English rather than being guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from agent.rules.vocab import load_yaml

__all__ = ["TABLES", "Localizer", "localize"]

TABLES = {"es": "answers_es.yaml"}
"""Answer languages other than English, with their translation table."""

_HOLE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_PROTECTED = re.compile(r"(\"[^\"\n]*\"|\[[^\[\]\n]*\]|`[^`\n]*`)")
_TOKEN = r"(?:[^\s;,:()\[\]]|[,:](?=\d))+"
"""What a fragment's hole stands for: one figure, date or id ('2,510', '2026-03-02', 'PO-24017/2')."""
_NUMBER = r"[-+]?\d[\d,.]*%?"
_NUMERIC = frozenset({"n", "n2", "q", "o"})
"""Holes of fragments that stand for a figure (so ', {n} blocked' never reads ', quality blocked')."""


_TYPED = {
    "cite": r"(?:\[[^\[\]\n]*\])?",
    "period": r"from \S+ to \S+",
    **{name: r"\S+" for name in ("n", "m", "day", "site", "item", "item2", "lot", "tool", "po", "line",
                                  "loc", "onhand", "res", "avail", "rows", "ss", "ls", "hours", "pct", "asset",
                                  "asset2", "since", "id")},
}
"""Holes of whole-line templates that stand for something narrower than any text: a citation, a period,
one token. Named so, adjacent holes ('{where} {period} {cite}') split where the English does."""


def _compile(english: str, hole: str, prefix: str = "", typed: bool = False) -> re.Pattern[str]:
    """``english`` with ``{name}`` holes as a regex whose holes capture ``hole`` (groups ``prefix + name``);
    ``typed``: holes named in :data:`_TYPED` capture what that names."""
    parts, last = [], 0
    for match in _HOLE.finditer(english):
        name = match.group(1)
        capture = _TYPED.get(name, hole) if typed else (_NUMBER if name in _NUMERIC else hole)
        parts += [re.escape(english[last:match.start()]), f"(?P<{prefix}{name}>{capture})"]
        last = match.end()
    parts.append(re.escape(english[last:]))
    return re.compile("".join(parts))


def _fill(target: str, values: Mapping[str, str]) -> str:
    """``target`` with its holes filled from ``values``."""
    return _HOLE.sub(lambda hole: values[hole.group(1)], target)


@dataclass(frozen=True)
class _Line:
    pattern: re.Pattern[str]
    target: str
    anchor: str
    """A literal piece of the English that must occur in the line (a cheap prefilter)."""


class Localizer:
    """Rewrites English answers into one language by its table (built once per model and language)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._lines: list[_Line] = []
        for english, target in dict(data.get("lines") or {}).items():
            english, target = str(english), str(target)
            self._check(english, target)
            anchor = max(_HOLE.split(english)[::2], key=len)
            self._lines.append(_Line(_compile(english, ".*?", typed=True), target, anchor))
        fragments = sorted(((str(k), str(v)) for k, v in dict(data.get("fragments") or {}).items()),
                           key=lambda kv: (-len(_HOLE.sub("", kv[0])), kv[0]))
        self._targets: list[str] = []
        self._alternatives: list[str] = []
        self._anchors: list[str] = []
        self._holes: list[tuple[str, ...]] = []
        for i, (english, target) in enumerate(fragments):
            self._check(english, target)
            self._targets.append(target)
            self._holes.append(tuple(_HOLE.findall(english)))
            self._anchors.append(max(_HOLE.split(english)[::2], key=len))
            pattern = _compile(english, _TOKEN, f"f{i}_").pattern
            # A fragment starting or ending with a letter matches whole words only ('inventory' never
            # rewrites the tool name 'inventory_lookup').
            pattern = ("(?<!\\w)" if english[0].isalnum() else "") + pattern + (
                "(?!\\w)" if english[-1].isalnum() else "")
            self._alternatives.append(f"(?P<f{i}>{pattern})")
        self._alternation = lru_cache(maxsize=1024)(self._compile_alternation)

    def _compile_alternation(self, indices: tuple[int, ...]) -> re.Pattern[str]:
        """One regex trying the fragments ``indices`` in table order (longest first) at each position."""
        return re.compile("|".join(self._alternatives[i] for i in indices))

    @classmethod
    def load(cls, language: str) -> Localizer | None:
        """The localizer of ``language`` (``None`` for English or a language without a table)."""
        name = TABLES.get(language)
        return cls(load_yaml(name)) if name else None

    @staticmethod
    def _check(english: str, target: str) -> None:
        if set(_HOLE.findall(target)) - set(_HOLE.findall(english)):
            raise ValueError(f"translation of {english!r} uses a hole the English does not have")

    # ------------------------------------------------------------------ rewriting
    def _fragment(self, match: re.Match[str]) -> str:
        # The fragment's own group closes after its holes' groups, so it is the last one matched.
        index = int(str(match.lastgroup)[1:])
        return _fill(self._targets[index], {name: match.group(f"f{index}_{name}") for name in self._holes[index]})

    def _fragments_in(self, text: str) -> str:
        """``text`` with every known fragment replaced, leaving quotes, citations and code alone."""
        pieces = _PROTECTED.split(text)
        return "".join(piece if i % 2 else self._fragments_of(piece) for i, piece in enumerate(pieces))

    def _fragments_of(self, piece: str) -> str:
        # Only fragments whose literal part occurs can match: a short alternation (compiled once per set).
        present = tuple(i for i, anchor in enumerate(self._anchors) if anchor in piece)
        return self._alternation(present).sub(self._fragment, piece) if present else piece

    def phrase(self, text: str, depth: int = 0) -> str:
        """One line (or a value inside one): by the first whole-line template that fits, else by fragments."""
        if depth < 3:
            for line in self._lines:
                if line.anchor in text:
                    match = line.pattern.fullmatch(text)
                    if match is not None:
                        values = {k: self.phrase(v, depth + 1) if v else v for k, v in match.groupdict().items()}
                        return _fill(line.target, values)
        return self._fragments_in(text)

    def translate(self, text: str) -> str:
        """``text`` (an answer or reply, lines separated by newlines) in this localizer's language."""
        return "\n".join(self.phrase(line) for line in text.split("\n"))


@cache
def _localizer(language: str) -> Localizer | None:
    return Localizer.load(language)


def localize(text: str, language: str) -> str:
    """``text`` (written in English) in ``language``: as it is for English or a language without a table."""
    localizer = _localizer(language) if language in TABLES else None
    return localizer.translate(text) if localizer is not None else text
