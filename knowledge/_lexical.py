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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["K1", "B", "LexicalIndex", "ScopedChunks", "terms"]

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


@dataclass(frozen=True)
class ScopedChunks:
    """The chunks one scope may read, with what :meth:`LexicalIndex.rank_scoped` needs of them precomputed
    (their positions and average length): built once per scope, not per query."""

    ids: tuple[str, ...]
    position: Mapping[str, int]
    average: float
    lengths: NDArray[np.float64]
    """Each chunk's length (terms), by position."""


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

    def scoped(self, chunk_ids: Sequence[str]) -> ScopedChunks:
        """The view of ``chunk_ids`` (all added) that :meth:`rank_scoped` scores."""
        ids = tuple(chunk_ids)
        lengths = self._lengths
        average = 1.0
        if ids:  # the reference's expression, so the float is the same
            average = sum(lengths[cid] for cid in ids) / len(ids) or 1.0
        return ScopedChunks(ids, {cid: i for i, cid in enumerate(ids)}, average,
                            np.array([lengths[cid] for cid in ids], dtype=np.float64))

    def rank(self, query: str, chunk_ids: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """(index into ``chunk_ids``, score) of the best ``limit`` chunks, best first — exactly
        ``bm25_rank(query, [counts of each chunk id], limit)``: statistics over ``chunk_ids`` only.

        Every chunk id must have been added.
        """
        return self.rank_scoped(query, self.scoped(chunk_ids), limit)

    def rank_scoped(self, query: str, view: ScopedChunks, limit: int) -> list[tuple[int, float]]:
        """:meth:`rank` over a prepared :class:`ScopedChunks` (indexes into ``view.ids``)."""
        wanted = set(terms(query))
        chunk_ids = view.ids
        if not wanted or not chunk_ids:
            return []
        position = view.position
        count = len(chunk_ids)
        average = view.average
        found: dict[str, tuple[list[int], list[int]]] = {}
        for term in wanted:
            postings = self._postings.get(term, {})
            if len(postings) <= count:
                pairs = [(position[cid], tf) for cid, tf in postings.items() if cid in position]
            else:
                pairs = [(i, postings[cid]) for i, cid in enumerate(chunk_ids) if cid in postings]
            found[term] = ([i for i, _ in pairs], [tf for _, tf in pairs])
        every = [i for at, _ in found.values() for i in at]
        if not every:
            return []
        candidates = np.unique(np.array(every, dtype=np.int64))
        # The reference's arithmetic, elementwise: the same float64 operations in the same order (the terms in the
        # order of the query's set, each adding to the chunks that hold it), so every score is bit for bit the same.
        norm = K1 * (1 - B + B * view.lengths[candidates] / average)
        scores = np.zeros(len(candidates), dtype=np.float64)
        for term in wanted:
            at, tfs = found[term]
            if not at:
                continue
            df = len(at)
            idf = math.log(1.0 + (count - df + 0.5) / (df + 0.5))
            where = np.searchsorted(candidates, np.array(at, dtype=np.int64))
            tf = np.array(tfs, dtype=np.float64)
            scores[where] += idf * tf * (K1 + 1) / (tf + norm[where])
        keep = scores > 0
        kept, kept_scores = candidates[keep], scores[keep]
        order = np.lexsort((kept, -kept_scores))[:limit]
        return [(int(kept[o]), float(kept_scores[o])) for o in order]
