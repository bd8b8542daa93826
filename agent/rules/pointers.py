"""Follow-ups that point at one record of the previous answer by a property, not by id or position.

"who supplies the biggest one?" (the listed row with the largest figure), "open orders on the spindle one?"
(the listed row whose text has the word), "the stock of the item on SO-30114" (a record on the same row as a
record the previous answer listed). The rows are the previous turn's tool results when the thread still holds
them (ids from their id-shaped fields only, the figure from the field ``rows:`` names), else the lines of its
answer (ids from the line, its first figure after the colon: the rules model's answers lead with the quantity).
The pointing words are replaced by the id and the question is planned as if it had named it; the id is data,
resolved against the plant again by that plan, and the gate decides the call as always. The words are data
(``pointers:`` in ``data/follow_ups.yaml``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.rules.dialogue import Exchange, classify_ids
from agent.rules.follow_up_rules import FollowUpRules, Reference
from agent.rules.text import fold

__all__ = ["Pointed", "Pointers"]

_CITATION = re.compile(r"\[[^\[\]]*\]")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2})?\b")
_LISTED = re.compile(r"\s*(?:[-*\u2022]|\d{1,2}[.)])\s")
_FIGURE = re.compile(r"(?<![\w.-])(\d[\d,]*(?:\.\d+)?)(?![\w-])")


@dataclass(frozen=True)
class _Row:
    """One record line of the previous answer (or row of its result)."""

    ids: Mapping[str, tuple[str, ...]]
    figure: float | None
    text: str
    """Folded text the row's label words are matched in."""


@dataclass(frozen=True)
class Pointed:
    """The record a follow-up points at, and where its words are."""

    reference: Reference
    kind: str
    record: str
    others: tuple[str, ...] = ()
    """The other records of the same row, for when the question is about one of them ('the printed bag one,
    where is it?' after PO lines with their lots: the lot)."""


_DESCRIBED = ("item", "supplier", "asset")
"""Record kinds whose master-data names a row is also known by."""


def _alternation(values: Sequence[str]) -> str:
    return "|".join(re.escape(fold(v)).replace(r"\ ", r"\s+") for v in sorted(values, key=len, reverse=True))


class Pointers:
    """Reads 'the biggest one', 'the spindle one' and 'the item on SO-30114' against the previous answer."""

    def __init__(self, rules: FollowUpRules, raw: Mapping[str, Any] | None = None,
                 describe: Callable[[str], str] | None = None) -> None:
        self.rules = rules
        self.describe = describe
        """An item's description or a supplier's name from the master data ('the printed bag one' picks the row
        of RM-3022, 'the Cartonajes one' the row from S-006)."""
        data = dict(raw or {})
        self.superlatives = {fold(str(k)): str(v) for k, v in dict(data.get("superlatives") or {}).items()}
        self.fields = {fold(str(k)): tuple(str(x) for x in v or ()) for k, v in dict(data.get("fields") or {}).items()}
        articles = _alternation([str(a) for a in data.get("articles") or ("the",)])
        nouns = _alternation([*rules.ordinal_nouns, "ones"])
        supers = _alternation(list(self.superlatives)) or "(?!)"
        # 'the biggest one', 'the largest order', 'el pedido más grande'
        self._superlative = re.compile(rf"\b(?:{articles})\s+(?:(?:{nouns})\s+)?({supers})(?:\s+(?:{nouns}))?\b")
        of = _alternation([str(w) for w in data.get("of") or ("on", "of")])
        fields = _alternation(list(self.fields)) or "(?!)"
        # 'the item on SO-30114', 'the supplier of that PO-24308/1'
        self._field = re.compile(rf"\b(?:{articles})\s+({fields})\s+(?:{of})\s+(?:(?:that|the|this)\s+)?"
                                 r"([A-Za-z]{1,3}-[\w/-]+)", re.IGNORECASE)
        self._asks = tuple(fold(str(w)) for w in data.get("asks") or ())
        labels = [re.escape(fold(str(p))).replace(r"\ ", r"\s+").replace(r"\{word\}", r"([a-z][\w-]{2,})")
                  .replace(r"\{skip\}", r"[a-z][\w-]*") for p in data.get("labels") or ()]
        self._labels = [re.compile(rf"\b{p}\b") for p in labels]
        self._not_labels = frozenset(fold(str(w)) for w in data.get("not_labels") or ()) | set(rules.ordinals) | set(
            self.superlatives)

    def point(self, question: str, exchange: Exchange) -> Pointed | None:
        """The one record of ``exchange`` that ``question`` points at by a property (``None`` when it points at
        none, or the property does not single one out)."""
        text = fold(question)
        original = question if len(question) == len(text) else text
        rows = self._rows(exchange)
        if not rows:
            return None
        subject = next((self.rules.subjects[c.name] for c in exchange.calls if c.name in self.rules.subjects), "")
        for found in (self._by_field(text, rows), self._by_superlative(text, rows, subject),
                      self._by_label(text, rows, subject)):
            if found is not None:
                (start, end), kind, record, *rest = found
                return Pointed(Reference(original, start, end, (kind,)), kind, record, *rest)
        return None

    # ------------------------------------------------------------------ the three ways of pointing
    def _by_field(self, text: str, rows: Sequence[_Row]) -> tuple[tuple[int, int], str, str] | None:
        match = self._field.search(text)
        if match is None or text[:match.start()].rstrip().endswith(self._asks):
            return None  # 'who's the supplier on PO-24308/1?' asks for that field: planned on the named record
        named = match.group(2).upper().rstrip("?.!,")
        kinds = self.fields[re.sub(r"\s+", " ", match.group(1))]
        on = [r for r in rows if any(named in ids for ids in r.ids.values())]
        for kind in kinds:
            found = {i for r in on for i in r.ids.get(kind, ()) if i != named}
            if len(found) == 1:  # the one record of that kind on the named record's row(s)
                end = match.start(2) + len(named)
                return (match.start(), end), kind, found.pop()
        return None

    def _by_superlative(self, text: str, rows: Sequence[_Row], subject: str
                        ) -> tuple[tuple[int, int], str, str, tuple[str, ...]] | None:
        match = self._superlative.search(text)
        if match is None:
            return None
        way = self.superlatives[re.sub(r"\s+", " ", match.group(1))]
        if way == "first":  # the answers list the worst first
            picked = _record(rows[0], subject)
            return ((match.start(), match.end()), *picked, _others(rows[0], picked[1])) if picked else None
        scored = [(r.figure, r) for r in rows if r.figure is not None]
        if not scored:
            return None
        best = max(f for f, _ in scored) if way == "max" else min(f for f, _ in scored)
        top = [r for f, r in scored if f == best]
        picked = _record(top[0], subject) if len(top) == 1 else None
        return ((match.start(), match.end()), *picked, _others(top[0], picked[1])) if picked else None

    def _by_label(self, text: str, rows: Sequence[_Row], subject: str
                  ) -> tuple[tuple[int, int], str, str, tuple[str, ...]] | None:
        for pattern in self._labels:
            for match in pattern.finditer(text):
                word = match.group(1)
                if word in self._not_labels:
                    continue
                # the word as typed or in the singular ('the kits one' for a 'Bearing Kit')
                forms = "|".join(re.escape(w) for w in dict.fromkeys((word, word[:-1] if word.endswith("s") else word)))
                has = [r for r in rows if re.search(rf"(?<![\w-])(?:{forms})(?![\w-])", r.text)]
                picked = _record(has[0], subject) if len(has) == 1 else None
                if picked:
                    return (match.start(), match.end()), *picked, _others(has[0], picked[1])
        return None

    # ------------------------------------------------------------------ the rows of the previous answer
    def _rows(self, exchange: Exchange) -> list[_Row]:
        """The previous turn's records, one per row: from its results when the thread holds them, else its
        answer's lines."""
        rows: list[_Row] = []
        for call, content in zip(exchange.calls, exchange.results, strict=False):
            spec = self.rules.rows.get(call.name)
            try:
                result = json.loads(content)
            except (TypeError, ValueError):
                continue
            if spec is None or not isinstance(result, Mapping):
                continue
            qty = spec.fields.get("qty", "")
            for key in spec.lists:
                for row in result.get(key) or ():
                    if not isinstance(row, Mapping):
                        continue
                    # Only values that are an id and nothing else: an id inside free text is never taken.
                    values = [v for v in row.values() if isinstance(v, str) and _is_id(v)]
                    figure = row.get(qty)
                    number = float(figure) if isinstance(figure, int | float) and not isinstance(figure, bool) else None
                    words = " ".join(str(v) for v in row.values() if isinstance(v, str))
                    ids = classify_ids(values)
                    if self.describe is not None:
                        words += " " + " ".join(self.describe(i) for k in _DESCRIBED for i in ids.get(k, ()))
                    rows.append(_Row(ids, number, fold(words)))
        if rows:
            return rows
        lines = exchange.answer.splitlines()
        listed = [line for line in lines if _LISTED.match(line)]
        for line in listed or lines:  # the listed rows, not a heading naming the scope ('lines from S-014:')
            ids = classify_ids([line])
            if not ids:
                continue
            rest = _DATE.sub(" ", _CITATION.sub(" ", line))
            for found in ids.values():
                for record in found:
                    rest = rest.replace(record, " ")
            after = rest.split(":", 1)[1] if ":" in rest else rest
            figure = _FIGURE.search(after)
            described = " ".join(self.describe(i) for k in _DESCRIBED for i in ids.get(k, ())
                                 ) if self.describe else ""
            rows.append(_Row(ids, float(figure.group(1).replace(",", "")) if figure else None,
                             fold(f"{line} {described}")))
        return rows


def _is_id(value: str) -> bool:
    """True when ``value`` is one plant record id and nothing else."""
    return any(ids == (value,) for ids in classify_ids([value]).values())


def _others(row: _Row, record: str) -> tuple[str, ...]:
    """The row's other single records (its lot, item, supplier …) besides ``record``."""
    return tuple(ids[0] for ids in row.ids.values() if len(ids) == 1 and ids[0] != record)


def _record(row: _Row, subject: str) -> tuple[str, str] | None:
    """The record a row stands for: the previous tool's subject kind, else the first id of the row."""
    if subject and len(row.ids.get(subject, ())) == 1:
        return subject, row.ids[subject][0]
    for kind, ids in row.ids.items():
        if len(ids) == 1:
            return kind, ids[0]
    return None
