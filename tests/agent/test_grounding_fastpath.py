"""Grounding's shortcuts (one joined scan, early-exit regexes, the stack walk) find exactly what the plain ways find."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterable
from typing import Any

import pytest

from agent.grounding import (
    _DATE_SCAN,
    _ID_SCAN,
    CITATION,
    DATE,
    ID,
    NUMBER,
    TIME,
    Evidence,
    GroundingReport,
    check_grounding,
    collect_evidence,
)

PIECES = ["PO-24017/2", "LOT-P100-0423", "RM-3001", "2026-03-02", "2026-03-02T06:00:00", "2026-03-02 06:00:00.5",
          "A-1", "ñ-A1", "_", "x", " ", "\n", "-", "/", ":", "12", "1,250", "8.1 %", "T", "٢٠٢٦-٠٣-٠٢", "ABC-DEF-1/23",
          "[", "]", "[PO-24017/2]", "12:30", "é", "Ａ", "99-99-99"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 7)))


def test_scan_patterns_find_the_same_matches_as_the_public_ones() -> None:
    rng = random.Random(3)
    alphabet = [*"AZBQ09-/ _\nTé5:.٣x", *PIECES]
    for _ in range(50_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert [m.span() for m in _ID_SCAN.finditer(text)] == [m.span() for m in ID.finditer(text)], text
        assert [m.span() for m in _DATE_SCAN.finditer(text)] == [m.span() for m in DATE.finditer(text)], text


def _walk(value: Any, strings: set[str], numbers: list[float]) -> None:
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


def _reference(payloads: Iterable[Any], extra_text: list[str]) -> Evidence:
    """collect_evidence written the plain way: a recursive walk, each text scanned on its own."""
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
    texts = [*strings, *extra_text]
    ids = {m.group(0) for text in texts for m in ID.finditer(text)}
    dates = {m.group(0)[:10] for text in texts for m in DATE.finditer(text)}
    for text in extra_text:
        for match in NUMBER.finditer(text):
            numbers.append(float(match.group(0).replace(",", "").rstrip("% ")))
    return Evidence(frozenset(strings), tuple(sorted(set(numbers))), frozenset(ids), frozenset(dates))


def _reference_check(answer: str, evidence: Evidence, mode: str) -> GroundingReport:
    """check_grounding without its early exits."""
    unverified: list[str] = []
    spans: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for match in ID.finditer(answer):
        taken.append(match.span())
        token = match.group(0)
        if token not in evidence.ids and not any(token in s for s in evidence.strings):
            spans.append((*match.span(), token))
    for match in DATE.finditer(answer):
        if not free(*match.span()):
            continue
        taken.append(match.span())
        if match.group(0)[:10] not in evidence.dates:
            spans.append((*match.span(), match.group(0)))
    for match in TIME.finditer(answer):
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
    for block in CITATION.finditer(answer):
        for match in ID.finditer(block.group(1)):
            token = match.group(0)
            if token in evidence.ids and token not in citations:
                citations.append(token)
    return GroundingReport(text, tuple(reversed(unverified)), tuple(citations))


class _Count(int):
    pass


def _tree(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.random()
    if depth > 3 or pick < 0.45:
        return rng.choice([_text(rng), _text(rng), 1, 2.5, -3, 0, None, True, False, _Count(4), 1e300, object()])
    if pick < 0.7:
        return {rng.choice([_text(rng), 1, 2.0, None, True]): _tree(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if pick < 0.9:
        return [_tree(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return tuple(_tree(rng, depth + 1) for _ in range(rng.randint(0, 3)))


def test_collect_evidence_and_grounding_match_the_plain_definitions() -> None:
    rng = random.Random(11)
    for _ in range(5000):
        payloads: list[Any] = []
        for _ in range(rng.randint(0, 3)):
            value = _tree(rng)
            if rng.random() < 0.5:
                with contextlib.suppress(TypeError, ValueError):  # object() is not JSON: kept as it is
                    value = json.dumps(value)
            payloads.append(_text(rng) if rng.random() < 0.1 else value)
        extra = [_text(rng) for _ in range(rng.randint(0, 2))]
        evidence = collect_evidence(payloads, extra_text=extra)
        assert evidence == _reference(payloads, extra)
        answer = " ".join(_text(rng) for _ in range(4))
        for mode in ("mark", "remove"):
            assert check_grounding(answer, evidence, mode=mode) == _reference_check(answer, evidence, mode)


def test_the_scan_memo_gives_what_a_cold_scan_gives_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.grounding as grounding

    rng = random.Random(23)
    cases = [([json.dumps(_tree(rng, 1), default=str) for _ in range(2)], [_text(rng)]) for _ in range(300)]
    cold = []
    for payloads, extra in cases:
        grounding._SCAN_MEMO.clear()
        cold.append(collect_evidence(payloads, extra_text=extra))
    for _ in range(2):  # warm: every text scanned before
        assert [collect_evidence(p, extra_text=e) for p, e in cases] == cold
    long_text = "PO-1 " * (grounding._SCAN_MEMO_MAX_CHARS // 5 + 1)
    assert collect_evidence([long_text]).ids == {"PO-1"} and long_text not in grounding._SCAN_MEMO
    monkeypatch.setattr(grounding, "_SCAN_MEMO_MAX_ENTRIES", 4)
    for i in range(12):
        assert collect_evidence([f"RM-{i}"]).ids == {f"RM-{i}"}
        assert len(grounding._SCAN_MEMO) <= 4
