"""Chroma's own query cost with and without a metadata filter: the floor under ``retrieval_p50_ms``.

Retrieval must carry the reader's scope into Chroma's dense query as a ``where`` filter (issue 18). These figures
time that query alone (no documents or metadata returned, no BM25, no fusion) three ways on the same index and
query vectors, so a reader can see how much of a retrieval is Chroma's filtered query and how much is ours:
unfiltered, filtered to a few dozen rows by one scalar equality, and filtered by each labelled user's scope.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ChromaFloor", "chroma_floor"]

_CANDIDATES = 20
"""As many neighbours as the dense side of a retrieval asks for (knowledge.store)."""


@dataclass(frozen=True)
class ChromaFloor:
    """Median milliseconds of one dense Chroma query, by filter."""

    unfiltered_ms: float
    tiny_filter_ms: float
    """``where={"source": "demo"}``: only the demo corpus chunks (a few dozen) pass."""
    tiny_filter_rows: int
    scope_filter_ms: float
    """Each labelled user's scope ``where`` (what retrieval sends), users in turn."""
    queries: int


def _median_ms(collection: Any, vectors: Sequence[Sequence[float]], wheres: Sequence[dict[str, Any] | None]) -> float:
    times = []
    for i, vector in enumerate(vectors):
        where = wheres[i % len(wheres)]
        started = time.perf_counter()
        collection.query(query_embeddings=[list(vector)], n_results=_CANDIDATES, where=where, include=[])
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def chroma_floor(collection: Any, scope_wheres: Sequence[dict[str, Any]],
                 vectors: Sequence[Sequence[float]]) -> ChromaFloor:
    """Time one dense query per vector and filter kind on ``collection`` (one warm-up query per kind first)."""
    if not scope_wheres or not vectors:
        raise ValueError("at least one scope filter and one query vector are needed")
    tiny: dict[str, Any] = {"source": "demo"}
    kinds: list[Sequence[dict[str, Any] | None]] = [[None], [tiny], list(scope_wheres)]
    for wheres in kinds:
        _median_ms(collection, vectors[:1], wheres)
    rows = len(collection.get(where=tiny, include=[])["ids"])
    return ChromaFloor(unfiltered_ms=_median_ms(collection, vectors, kinds[0]),
                       tiny_filter_ms=_median_ms(collection, vectors, kinds[1]), tiny_filter_rows=rows,
                       scope_filter_ms=_median_ms(collection, vectors, kinds[2]), queries=len(vectors))
