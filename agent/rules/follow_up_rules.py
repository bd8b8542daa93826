"""The words of follow-up questions (``data/follow_ups.yaml``): openers, markers, references, switches, thresholds.

Everything here reads the question as typed (folded, stemmed words; no entity masking) and is pure: the
resolution that uses it is in :mod:`agent.rules.follow_ups`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.rules.result_view import RowSpec, RowView, specs
from agent.rules.text import fold, words
from agent.rules.vocab import load_yaml

__all__ = ["FollowUpRules", "Reference"]

Phrase = tuple[str, ...]
_SHORT = 3
"""Words of a question in which a one-word 'more' phrase ('more', 'continue') is the whole request."""


_DEMONSTRATIVE = re.compile(r"(?:that|this|ese|esa|este|esta)\b")


def _phrases(values: Sequence[Any]) -> tuple[Phrase, ...]:
    out = {tuple(words(str(v))) for v in values}
    return tuple(sorted((p for p in out if p), key=lambda p: (-len(p), p)))


def _find(stems: Sequence[str], phrase: Phrase, start: int = 0) -> int:
    """The position of ``phrase`` in ``stems`` (from ``start``), or -1."""
    n = len(phrase)
    return next((i for i in range(start, len(stems) - n + 1) if tuple(stems[i:i + n]) == phrase), -1)


def _words_pattern(text: str) -> re.Pattern[str]:
    """A regex for ``text``'s words in folded text (any spacing between them, whole words only)."""
    return re.compile(r"(?<![\w-])" + r"\s+".join(re.escape(w) for w in fold(text).split()) + r"(?![\w-])")


def _original(question: str, folded: str) -> str:
    """``question`` as typed when its folded form has the same length (positions agree), else the folded form."""
    return question if len(question) == len(folded) else folded


def _has(stems: Sequence[str], phrases: Sequence[Phrase]) -> bool:
    return any(_find(stems, p) >= 0 for p in phrases)


@dataclass(frozen=True)
class Reference:
    """Words pointing at one record of the previous turn ('it', 'that lot', 'the second one')."""

    text: str
    """The question (as typed when folding kept its length, else folded: positions are into this)."""
    start: int
    end: int
    """Where the words are in ``text`` (what the record's id replaces)."""
    kinds: tuple[str, ...]
    """The record kinds they may name (empty: any)."""
    index: int | None = None
    """For an ordinal ('the second one'): which record of the list."""

    def put(self, record_id: str) -> str:
        """The question with the record's id in place of the words."""
        return f"{self.text[:self.start]}{record_id}{self.text[self.end:]}"

    def template(self) -> str:
        """The question with ``{ref}`` in place of the words (braces in the text doubled)."""
        escape = str.maketrans({"{": "{{", "}": "}}"})
        return self.text[:self.start].translate(escape) + "{ref}" + self.text[self.end:].translate(escape)


class FollowUpRules:
    """The follow-up vocabulary of the data file."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        raw = dict(data) if data is not None else load_yaml("follow_ups.yaml")
        self.openers = _phrases(raw.get("openers") or ())
        self.markers = _phrases(raw.get("markers") or ())
        self.end_markers = _phrases(raw.get("end_markers") or ())
        self.repeats = _phrases(raw.get("repeat") or ())
        self.more = _phrases(raw.get("more") or ())
        self.subset = _phrases(raw.get("subset") or ())
        self.every = _phrases(raw.get("every") or ())
        self.place_words = frozenset(str(w) for w in raw.get("place_words") or ())
        self.existential = frozenset(str(w) for w in raw.get("existential") or ())
        self.home = _phrases(raw.get("home") or ())
        widen = dict(raw.get("widen") or {})
        self._widen = [(str(scope), _phrases(phrases or ())) for scope, phrases in widen.items()]
        self._not_references = [_words_pattern(str(p)) for p in raw.get("not_references") or ()]
        singular: list[tuple[str, tuple[str, ...]]] = []
        plural: list[str] = []
        for text, kinds in dict(raw.get("references") or {}).items():
            if kinds == "plural":
                plural.append(str(text))
            else:
                singular.append((str(text), tuple(str(k) for k in kinds or ())))
        singular.sort(key=lambda entry: (-len(entry[0].split()), entry[0]))
        self._singular = [(_words_pattern(text), kinds) for text, kinds in singular]
        self.plural = _phrases(plural)
        self._particles = frozenset(str(w) for w in raw.get("pronoun_particles") or ())
        self.ordinals = {str(k): int(v) for k, v in dict(raw.get("ordinals") or {}).items()}
        self.ordinal_nouns = tuple(str(n) for n in raw.get("ordinal_nouns") or ())
        self.switches: list[tuple[tuple[Phrase, ...], dict[str, str], bool]] = [
            (_phrases(s.get("words") or ()), {str(k): str(v) for k, v in dict(s.get("intents") or {}).items()},
             bool(s.get("before_references"))) for s in raw.get("switches") or ()]
        merge = dict(raw.get("merge") or {})
        self.record_kinds = tuple(str(k) for k in merge.get("records") or ())
        self.site_bound = frozenset(str(k) for k in merge.get("site_bound") or ())
        self.one_record = frozenset(str(k) for k in merge.get("one_record") or ())
        threshold = dict(raw.get("threshold") or {})
        self._above = self._alternation(threshold.get("above") or ())
        self._below = self._alternation(threshold.get("below") or ())
        self._money = self._alternation(threshold.get("money") or ())
        self._days = self._alternation(threshold.get("days") or ())
        self._percent = self._alternation(threshold.get("percent") or ())
        self.rows: dict[str, RowSpec] = specs(dict(raw.get("rows") or {}))
        self.subjects = {str(k): str(v) for k, v in dict(raw.get("subjects") or {}).items()}
        self.kind_names = {str(k): str(v) for k, v in dict(raw.get("kind_names") or {}).items()}
        self.more_limit = int(raw.get("more_limit", 200))
        self.strong_match = float(raw.get("strong_match", 4))
        self.max_words = int(raw.get("max_words", 12))
        self.terse_words = int(raw.get("terse_words", 3))
        self.drill_down = {str(k): frozenset(str(i) for i in v or ())
                           for k, v in dict(raw.get("drill_down") or {}).items()}
        """Per intent, the intents a question naming no scope of its own asks one level down, on the same scope."""
        self.keep_site = frozenset(str(i) for i in raw.get("keep_site") or ())
        self._clear = [(frozenset(str(f) for f in c.get("flags") or ()), _phrases(c.get("words") or ()))
                       for c in raw.get("clear") or ()]
        self.pointer_words: dict[str, Any] = dict(raw.get("pointers") or {})
        """'the biggest one', 'the spindle one', 'the item on SO-30114' (read by :mod:`agent.rules.pointers`)."""
        """Intents whose 'it' keeps the site the previous question named the record at."""

    @staticmethod
    def _alternation(values: Sequence[Any]) -> str:
        parts = sorted((re.escape(fold(str(v))).replace(r"\ ", r"\s+") for v in values), key=len, reverse=True)
        return "|".join(parts) or "(?!)"

    # ------------------------------------------------------------------ what the question says
    def opens(self, stems: Sequence[str]) -> bool:
        """True when the question starts like a continuation ('and ...', 'what about ...', 'only ...')."""
        return any(tuple(stems[:len(p)]) == p for p in self.openers)

    def marked(self, stems: Sequence[str]) -> bool:
        """True when the question opens like a follow-up or carries a follow-up word anywhere."""
        ends = any(len(stems) > len(p) and tuple(stems[-len(p):]) == p for p in self.end_markers)
        return (ends or self._points_there(stems) or self.narrows(stems) or self.opens(stems)
                or _has(stems, self.markers) or _has(stems, self.plural))

    def narrows(self, stems: Sequence[str]) -> bool:
        """True for 'which of those', 'any of them' ...: the question picks among the previous result's rows."""
        return _has(stems, self.subset)

    def at_home(self, stems: Sequence[str]) -> bool:
        """True for 'here', 'our plant' ...: the place is the asker's own sites, not the previous question's."""
        return _has(stems, self.home)

    def _points_there(self, stems: Sequence[str]) -> bool:
        """True for a 'there' that stands for the previous place ('any work orders there at risk?'), not the
        'there' of 'is there ...' / 'there are ...'."""
        return any(s in self.place_words and not (i and stems[i - 1] in self.existential)
                   and not (i + 1 < len(stems) and stems[i + 1] in self.existential) for i, s in enumerate(stems))

    def repeats_previous(self, stems: Sequence[str]) -> bool:
        """True for 'again', 'refresh' ...: the same calls are what is asked."""
        return _has(stems, self.repeats)

    def asks_more(self, stems: Sequence[str]) -> bool:
        """True for 'more', 'show all', 'the rest' ... (a one-word phrase only in a question of a few words:
        'which suppliers deliver more late?' asks for no more rows)."""
        return any(_find(stems, p) >= 0 for p in self.more if len(p) > 1 or len(stems) <= _SHORT)

    def asks_every(self, stems: Sequence[str]) -> bool:
        """True for 'show all', 'the full list': every row at once rather than the next page."""
        return _has(stems, self.every)

    def widens(self, stems: Sequence[str]) -> str | None:
        """'site' for 'the whole plant', 'all' for 'both plants' (``None`` when the question narrows nothing)."""
        return next((scope for scope, phrases in self._widen if _has(stems, phrases)), None)

    def cleared(self, stems: Sequence[str]) -> frozenset[str]:
        """The filters the question drops ('any class' → abc_class)."""
        return frozenset(f for flags, phrases in self._clear if _has(stems, phrases) for f in flags)

    def switch(self, stems: Sequence[str], intent: str) -> str | None:
        """The intent a filter word turns ``intent`` into ('only the overdue ones' after open PO lines)."""
        for phrases, intents, _ in self.switches:
            if intent in intents and _has(stems, phrases):
                return intents[intent]
        return None

    def switches_before_references(self, stems: Sequence[str], intent: str) -> bool:
        """True when a filter word turns ``intent`` into another that outranks a pronoun: in 'why is it so
        high?' after scrap figures, 'it' is the scrap the previous turn reported, not one of its records."""
        return any(first and intent in intents and _has(stems, phrases)
                   for phrases, intents, first in self.switches)

    def reference(self, question: str) -> Reference | None:
        """The words of ``question`` that point at one earlier record, if any."""
        text = fold(question)
        ordinal = self._ordinal(question, text)
        named = self._named(question, text)
        # 'open a review for that supplier, it's the second lot …': a demonstrative before the ordinal is the
        # record meant ('the supplier on the second one' still picks the second one's supplier).
        if ordinal is not None and not (named is not None and named.kinds and named.start < ordinal.start
                                        and _DEMONSTRATIVE.match(text, named.start)):
            return ordinal
        return named

    def _named(self, question: str, text: str) -> Reference | None:
        """The first pronoun or 'that <kind>' of ``question`` that points at a record."""
        blocked = [m.span() for p in self._not_references for m in p.finditer(text)]
        for pattern, kinds in self._singular:
            for match in pattern.finditer(text):
                start, end = match.span()
                if any(a <= start < b for a, b in blocked):
                    continue
                word = match.group(0)
                if word in ("that", "this") and not self._pronoun_position(text[end:]):
                    continue  # 'items that are late': a relative clause or a determiner, not a record
                return Reference(_original(question, text), start, end, kinds)
        return None

    def _pronoun_position(self, after: str) -> bool:
        """True when the words after a bare 'that'/'this' leave it standing for a record."""
        rest = after.strip()
        return not rest or rest[0] in "?.!," or rest.split()[0] in self._particles

    def ordinal_index(self, question: str) -> int | None:
        """Which entry of a list an answer to 'which one?' picks ('the second one', '2nd', 'number 3', '#1')."""
        text = fold(question)
        reference = self._ordinal(question, text)
        if reference is not None:
            return reference.index
        names = "|".join(re.escape(o) for o in sorted(self.ordinals, key=len, reverse=True))
        match = re.search(rf"^\W*(?:the\s+)?({names})\b", text) if names else None
        if match is not None:
            return self.ordinals[match.group(1)]
        number = re.search(r"^\W*(?:number|no\.?|#|option)\s*(\d{1,2})\b", text)
        return int(number.group(1)) - 1 if number and int(number.group(1)) > 0 else None

    def _ordinal(self, question: str, text: str) -> Reference | None:
        """'the second one', 'the last lot', 'the first' (at the end) in folded ``text``."""
        names = "|".join(re.escape(o) for o in sorted(self.ordinals, key=len, reverse=True))
        nouns = "|".join(re.escape(n) for n in self.ordinal_nouns)
        if not names:
            return None
        match = re.search(rf"\bthe\s+({names})(?:\s+({nouns}))?\b", text)
        if match is None or (match.group(2) is None and not re.search(rf"\bthe\s+({names})\s*[?.!]*$", text)):
            return None
        return Reference(_original(question, text), match.start(), match.end(), (), self.ordinals[match.group(1)])

    def threshold(self, question: str) -> tuple[RowView, bool] | None:
        """'over 1,000' / 'under $500' / 'more than 5 days late' / 'over 80%' as a row view, and whether the
        figure is a percentage."""
        text = fold(question)
        number = r"(\$)?\s*(\d[\d,]*(?:\.\d+)?)\s*(k|thousand|m|million)?\b\s*(%)?"
        for side, words_re in (("above", self._above), ("below", self._below)):
            match = re.search(rf"(?:^|\s)(?:{words_re})\s+(?:than\s+)?{number}(?P<tail>[^.?!]{{0,24}})", text)
            if match is None:
                continue
            value = float(match.group(2).replace(",", ""))
            value *= {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get(match.group(3) or "", 1.0)
            tail = match.group("tail") or ""
            percent = bool(match.group(4)) or bool(re.match(rf"\s*(?:{self._percent})\b", tail))
            unit = "qty"
            if match.group(1) or re.search(rf"(?:{self._money})", text):
                unit = "value"
            elif re.match(rf"\s*(?:{self._days})\b", tail):
                unit = "days"
            figure = text[match.start(1) if match.group(1) else match.start(2):match.end(3) if match.group(3)
                          else match.end(2)]
            view = (RowView(above=value, unit=unit, figure=figure) if side == "above"
                    else RowView(below=value, unit=unit, figure=figure))
            return view, percent
        return None
