"""A small BM25 scorer: finds exact identifiers (SOP numbers, asset ids, defect codes) dense vectors miss.

It scores only the chunks it is given — the caller passes the chunks the reader's scope already selected,
so statistics and scores never involve a restricted chunk.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

__all__ = ["bm25_rank", "terms"]

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_/.][a-z0-9]+)*")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "in", "is", "it",
    "its", "my", "of", "on", "or", "our", "say", "says", "the", "to", "what", "when", "where", "which", "who",
    "why", "with", "we", "you", "your", "de", "del", "el", "en", "la", "las", "los", "y", "que", "para", "por",
    "un", "una"
))
_K1 = 1.2
_B = 0.75


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and not word[-2].isdigit():
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Search terms of ``text``: folded words, and each compound id both whole and in parts."""
    out: list[str] = []
    for match in _TOKEN.finditer(_fold(text)):
        token = match.group(0).strip(".")
        parts = [p for p in re.split(r"[-_/.]", token) if p]
        if len(parts) > 1:
            out.append(token)
        out.extend(_stem(p) for p in parts if p not in _STOP)
    return out


def bm25_rank(query: str, docs: Sequence[Counter[str]], limit: int) -> list[tuple[int, float]]:
    """(index into ``docs``, score) of the best ``limit`` documents with a positive score, best first.

    ``docs`` are term counts (``Counter(terms(text))``): the caller keeps them, so a text is tokenized once.
    """
    wanted = set(terms(query))
    if not wanted or not docs:
        return []
    lengths = [sum(d.values()) for d in docs]
    average = sum(lengths) / len(docs) or 1.0
    count = len(docs)
    idf = {}
    for term in wanted:
        df = sum(1 for d in docs if term in d)
        idf[term] = math.log(1.0 + (count - df + 0.5) / (df + 0.5))
    scored: list[tuple[int, float]] = []
    for i, (doc, length) in enumerate(zip(docs, lengths, strict=True)):
        score = 0.0
        for term in wanted:
            tf = doc.get(term, 0)
            if tf:
                score += idf[term] * tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * length / average))
        if score > 0:
            scored.append((i, score))
    scored.sort(key=lambda s: (-s[1], s[0]))
    return scored[:limit]
