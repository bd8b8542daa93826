"""A small BM25 scorer: finds exact identifiers (SOP numbers, asset ids, defect codes) dense vectors miss.

It scores only the chunks it is given — the caller passes the chunks the reader's scope already selected,
so statistics and scores never involve a restricted chunk. :class:`LexicalIndex` keeps the term counts as an
inverted index (tokenized once per chunk) and scores only the given chunks that hold a query term
(tests/knowledge/test_lexical_index.py keeps the plain scorer over term counts it must equal).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["K1", "B", "LexicalIndex", "terms"]

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_/.][a-z0-9]+)*")
_SEPARATOR = re.compile(r"[-_/.]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "in", "is", "it",
    "its", "my", "of", "on", "or", "our", "say", "says", "the", "to", "what", "when", "where", "which", "who",
    "why", "with", "we", "you", "your", "de", "del", "el", "en", "la", "las", "los", "y", "que", "para", "por",
    "un", "una"
))
# BM25 parameters (the usual defaults): term-frequency saturation and length normalisation.
K1 = 1.2
B = 0.75


def _strip_marks(run: re.Match[str]) -> str:
    return "".join(c for c in run.group(0) if not unicodedata.combining(c))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    # Only non-ASCII characters can be combining marks: leave the ASCII runs alone (tokenizing 10k chunks is hot).
    return decomposed if decomposed.isascii() else _NON_ASCII.sub(_strip_marks, decomposed)


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss") and not word[-2].isdigit():
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Search terms of ``text``: folded words, and each compound id both whole and in parts."""
    out: list[str] = []
    for token in _TOKEN.findall(_fold(text)):
        token = token.strip(".")
        if token.isalnum():  # a plain word (tokens are ASCII): the common case, without the split
            if token not in _STOP:
                out.append(_stem(token))
            continue
        parts = [p for p in _SEPARATOR.split(token) if p]
        if len(parts) > 1:
            out.append(token)
        out.extend(_stem(p) for p in parts if p not in _STOP)
    return out


class LexicalIndex:
    """Postings (term → chunk id → term frequency) and lengths of the chunks added so far.

    Entries are keyed by chunk id, and a chunk id names its text (it holds the text's hash), so an entry never
    goes stale; entries of deleted chunks are never scored because only the caller's chunk ids are.
    """

    def __init__(self) -> None:
        self._postings: dict[str, dict[str, int]] = {}
        self._lengths: dict[str, int] = {}

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._lengths

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        """Index ``(chunk id, text)`` pairs (a chunk already indexed is skipped)."""
        for chunk_id, text in items:
            if chunk_id in self._lengths:
                continue
            counts = Counter(terms(text))
            self._lengths[chunk_id] = sum(counts.values())
            for term, tf in counts.items():
                self._postings.setdefault(term, {})[chunk_id] = tf

    def rank(self, query: str, chunk_ids: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """(index into ``chunk_ids``, score) of the best ``limit`` chunks, best first — exactly
        ``bm25_rank(query, [counts of each chunk id], limit)``: statistics over ``chunk_ids`` only.

        Every chunk id must have been added.
        """
        wanted = set(terms(query))
        if not wanted or not chunk_ids:
            return []
        lengths = self._lengths
        position = {cid: i for i, cid in enumerate(chunk_ids)}
        count = len(chunk_ids)
        average = sum(lengths[cid] for cid in chunk_ids) / count or 1.0
        idf: dict[str, float] = {}
        hits: dict[str, dict[int, int]] = {}
        for term in wanted:
            postings = self._postings.get(term, {})
            if len(postings) <= count:
                found = {position[cid]: tf for cid, tf in postings.items() if cid in position}
            else:
                found = {i: postings[cid] for i, cid in enumerate(chunk_ids) if cid in postings}
            hits[term] = found
            df = len(found)
            idf[term] = math.log(1.0 + (count - df + 0.5) / (df + 0.5))
        candidates = sorted({i for found in hits.values() for i in found})
        scored: list[tuple[int, float]] = []
        for i in candidates:
            length = lengths[chunk_ids[i]]
            score = 0.0
            for term in wanted:  # the reference's order of terms, so the float sums are the same
                tf = hits[term].get(i, 0)
                if tf:
                    score += idf[term] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
            if score > 0:
                scored.append((i, score))
        scored.sort(key=lambda s: (-s[1], s[0]))
        return scored[:limit]
