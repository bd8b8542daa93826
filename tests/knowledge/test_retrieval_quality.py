"""Retrieval quality on the labelled queries (accuracy, not speed: latencies are reported by `jidoka bench`)."""

from __future__ import annotations

from evals.bench.retrieval_quality import load_queries, measure
from guardrails.policy.loader import Policy
from knowledge.documents import Document
from knowledge.store import KnowledgeIndex


def test_labelled_set_is_large_and_consistent(corpus: dict[str, Document]) -> None:
    queries = load_queries()
    assert len(queries) >= 50
    assert sum(1 for q in queries if q.kind == "exact") >= 10
    assert all(e in corpus for q in queries for e in q.expect)


def test_recall_at_5(demo_index: KnowledgeIndex, shipped_policy: Policy) -> None:
    bench = measure(demo_index, shipped_policy)
    misses = [(o.query.query, o.query.expect, o.found) for o in bench.misses]
    assert bench.recall_at_5 >= 0.9, misses
    assert bench.exact_recall_at_5 == 1.0, [m for m in misses if m[0] in {q.query for q in load_queries()
                                                                            if q.kind == "exact"}]
    # Every labelled query was embedded, searched and timed once (the figures themselves belong to the bench).
    assert bench.queries == len(load_queries()) == len(bench.outcomes)
    assert 0 < bench.query_p50_ms <= bench.query_p95_ms and bench.embed_query_p50_ms > 0
