"""The grounding check: every figure and record id in an answer must come from this turn's tool results.

Numbers are compared numerically at the precision they are printed with, so
"1,250" matches 1250.0 and "8.1 %" matches 0.0809 (a rate shown as a percent).
Dates must appear in the evidence; ids must appear verbatim. Counts of listed
records count as evidence (a model may say "3 lines are late" when the tool
listed three). What is not supported is marked (rules model) or removed (LLM).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Evidence", "GroundingReport", "check_grounding", "collect_evidence"]

ID = re.compile(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+(?:/\d+)?\b")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b")
TIME = re.compile(r"\b\d{1,2}:\d{2}\b")
NUMBER = re.compile(r"(?<![\w.,/-])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.,/-])-?\d+(?:\.\d+)?\s?%?")
CITATION = re.compile(r"\[([^\[\]]+)\]")
DOC_CITATION = re.compile(r"\b([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) ?§ ?(\d+(?:\.\d+)*)")
"""A document section, ``QP-004 §3``: supported only when a tool of the turn returned exactly that citation."""
QUOTE = re.compile(r"[\"“]([^\"“”\n]{12,600})[\"”]")
"""A quoted extract: supported (figures and ids inside it included) when a tool result holds it verbatim."""
# ID and DATE as scanned: the same matches, but the leading ``\b`` is checked after the first character
# (``\b`` before a word character = no word character before it), so the pattern starts with a character
# class and the regex engine can skip ahead to candidates instead of trying every position.
_ID_SCAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z0-9]*(?:-[A-Z0-9]+)+(?:/\d+)?\b")
_DATE_SCAN = re.compile(r"\d(?<!\w\d)\d{3}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b")


@dataclass(frozen=True)
class Evidence:
    """What this turn's tool results (and the question) support."""

    strings: frozenset[str]
    numbers: tuple[float, ...]
    ids: frozenset[str]
    dates: frozenset[str]

    def supports_number(self, value: float, decimals: int, percent: bool) -> bool:
        """True when ``value`` (printed with ``decimals`` decimals) matches an evidence number."""
        tolerance = 0.5 * 10 ** (-decimals) + 1e-9
        candidates = (value, value / 100.0) if percent else (value,)
        for candidate in candidates:
            tol = tolerance / 100.0 if percent and candidate is not value else tolerance
            if any(abs(candidate - n) <= tol for n in self.numbers):
                return True
        return False


def _walk(value: Any, strings: set[str], numbers: list[float]) -> None:
    """Every string (dict keys included) into ``strings``; every number and container length into ``numbers``.

    Bools and None count as neither; other types are ignored. Exact JSON types (what ``json.loads``
    gives) take the short way; subclasses go through the ``isinstance`` checks.
    """
    add_string, add_number = strings.add, numbers.append
    stack = [value]
    push, pop = stack.append, stack.pop
    while stack:
        value = pop()
        kind = type(value)
        if kind is dict:
            add_number(float(len(value)))
            strings.update(map(str, value))
            items: Iterable[Any] = value.values()
        elif kind is list or kind is tuple:
            add_number(float(len(value)))
            items = value
        elif kind is str:
            add_string(value)
            continue
        elif kind is float or kind is int:
            add_number(float(value))
            continue
        else:
            _walk_other(value, strings, numbers)
            continue
        for item in items:
            kind = type(item)
            if kind is str:
                add_string(item)
            elif kind is float or kind is int:
                add_number(float(item))
            elif item is not None and kind is not bool:
                push(item)


def _walk_other(value: Any, strings: set[str], numbers: list[float]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        numbers.append(float(value))
    elif isinstance(value, str):
        strings.add(value)
    elif isinstance(value, dict):
        numbers.append(float(len(value)))
        for key, item in value.items():
            strings.add(str(key))
            _walk(item, strings, numbers)
    elif isinstance(value, (list, tuple)):
        numbers.append(float(len(value)))
        for item in value:
            _walk(item, strings, numbers)


_SCAN_MEMO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
_SCAN_MEMO_MAX_ENTRIES = 16384
_SCAN_MEMO_MAX_CHARS = 2000


def _scanned(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ids and the dates (``YYYY-MM-DD``) in ``text``.

    A pure function of the text, kept for short texts: record ids, dates and the plant's free text come back in
    result after result (the warm path). Scanning texts one by one finds what one scan of them joined by newlines
    found: no match can hold a newline, and a newline is a non-word character, as a text's edge is to ``\b``.
    """
    hit = _SCAN_MEMO.get(text)
    if hit is None:
        hit = (tuple(_ID_SCAN.findall(text)), tuple(found[:10] for found in _DATE_SCAN.findall(text)))
        if len(text) <= _SCAN_MEMO_MAX_CHARS:
            if len(_SCAN_MEMO) >= _SCAN_MEMO_MAX_ENTRIES:
                _SCAN_MEMO.clear()  # a cheap bound: start over rather than track recency
            _SCAN_MEMO[text] = hit
    return hit


def collect_evidence(payloads: Iterable[Any], *, extra_text: Iterable[str] = ()) -> Evidence:
    """Evidence from tool results (parsed JSON or JSON text) plus free text such as the question."""
    strings: set[str] = set()
    numbers: list[float] = []
    for payload in payloads:
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                strings.add(payload)
                continue
        _walk(payload, strings, numbers)
    texts = list(strings) + list(extra_text)
    ids: set[str] = set()
    dates: set[str] = set()
    for text in texts:
        if "-" in text:  # every ID and DATE match holds a "-"
            found_ids, found_dates = _scanned(text)
            ids.update(found_ids)
            dates.update(found_dates)
    for text in extra_text:
        for match in NUMBER.finditer(text):
            numbers.append(float(match.group(0).replace(",", "").rstrip("% ")))
    return Evidence(frozenset(strings), tuple(sorted(set(numbers))), frozenset(ids), frozenset(dates))


def _verified_quotes(answer: str, evidence: Evidence) -> list[tuple[int, int]]:
    """Spans of quoted extracts that a tool result holds verbatim (whitespace-insensitive)."""
    spans: list[tuple[int, int]] = []
    flat: list[str] | None = None
    for match in QUOTE.finditer(answer):
        inner = " ".join(match.group(1).split())
        if flat is None:
            flat = [" ".join(s.split()) for s in evidence.strings if len(s) >= 12]
        if any(inner in s for s in flat):
            spans.append(match.span())
    return spans


@dataclass(frozen=True)
class GroundingReport:
    """The answer after the check."""

    text: str
    """The answer with unsupported tokens marked or removed."""
    unverified: tuple[str, ...]
    """Tokens (figures, dates, ids) no evidence supports."""
    citations: tuple[str, ...]
    """Record ids cited in brackets that the evidence supports, in order of first mention."""


def check_grounding(answer: str, evidence: Evidence, *, mode: Literal["mark", "remove"] = "mark") -> GroundingReport:
    """Check every id, date and number in ``answer`` against ``evidence``."""
    unverified: list[str] = []
    spans: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    quoted = _verified_quotes(answer, evidence) if '"' in answer or "“" in answer else []
    taken.extend(quoted)
    for match in DOC_CITATION.finditer(answer) if "§" in answer else ():
        taken.append(match.span())
        if f"{match.group(1)} §{match.group(2)}" not in evidence.strings:
            spans.append((*match.span(), match.group(0)))
    for match in _ID_SCAN.finditer(answer):
        if not free(*match.span()):
            continue
        taken.append(match.span())
        token = match.group(0)
        if token not in evidence.ids and not any(token in s for s in evidence.strings):
            spans.append((*match.span(), token))
    for match in _DATE_SCAN.finditer(answer):
        if not free(*match.span()):
            continue
        taken.append(match.span())
        if match.group(0)[:10] not in evidence.dates:
            spans.append((*match.span(), match.group(0)))
    for match in TIME.finditer(answer) if ":" in answer else ():  # a time holds a ":"
        if free(*match.span()):
            taken.append(match.span())
    for match in NUMBER.finditer(answer):
        if not free(*match.span()):
            continue
        token = match.group(0).strip()
        percent = token.endswith("%")
        digits = token.rstrip("% ").replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        if not evidence.supports_number(float(digits), decimals, percent):
            spans.append((match.start(), match.start() + len(token), token))
    text = answer
    for start, end, token in sorted(spans, reverse=True):
        unverified.append(token)
        replacement = f"{token} [unverified]" if mode == "mark" else "[removed: not supported by the data]"
        text = text[:start] + replacement + text[end:]
    citations: list[str] = []
    for block in CITATION.finditer(answer) if "[" in answer else ():  # a citation is bracketed
        for match in DOC_CITATION.finditer(block.group(1)) if "§" in block.group(1) else ():
            cited = f"{match.group(1)} §{match.group(2)}"
            if cited in evidence.strings and cited not in citations:
                citations.append(cited)
        for match in _ID_SCAN.finditer(DOC_CITATION.sub("", block.group(1))):
            token = match.group(0)
            if token in evidence.ids and token not in citations:
                citations.append(token)
    return GroundingReport(text, tuple(reversed(unverified)), tuple(citations))
