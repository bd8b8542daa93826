"""Retrieval quality and speed on the labelled queries: recall@5 and latency percentiles.

``measure(index, policy)`` is a plain function for ``jidoka bench`` and the tests: each labelled query is
searched in the scope of its user (sites and roles from the policy, as the gate and the tool build it).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex

__all__ = ["LabelledQuery", "QueryOutcome", "RetrievalBench", "load_queries", "measure", "scope_for_user"]

K = 5


@dataclass(frozen=True)
class LabelledQuery:
    """A query, who asks it and the documents a good top five holds."""

    query: str
    user: str
    expect: tuple[str, ...]
    kind: str = "semantic"
    """``semantic`` (paraphrase) or ``exact`` (names an identifier: SOP number, asset id, defect code…)."""


@dataclass(frozen=True)
class QueryOutcome:
    """How one labelled query fared."""

    query: LabelledQuery
    found: tuple[str, ...]
    """Distinct document ids of the top five, in rank order."""
    recall: float


@dataclass(frozen=True)
class RetrievalBench:
    """Results of :func:`measure`."""

    queries: int
    recall_at_5: float
    exact_recall_at_5: float
    query_p50_ms: float
    """Retrieval (dense + lexical + fusion), embedding the query excluded."""
    query_p95_ms: float
    embed_query_p50_ms: float
    outcomes: tuple[QueryOutcome, ...]
    query_cpu_p50_ms: float = 0.0
    """CPU time of the process (every thread) per retrieval: what a loaded machine's wall clock hides."""
    embed_query_cpu_p50_ms: float = 0.0

    @property
    def misses(self) -> list[QueryOutcome]:
        """Queries whose expected documents were not all in the top five."""
        return [o for o in self.outcomes if o.recall < 1.0]


def load_queries(path: Path | None = None) -> list[LabelledQuery]:
    """The labelled queries (default: ``evals/bench/data/labelled_queries.yaml``)."""
    text = path.read_text(encoding="utf-8") if path is not None else (
        resources.files("evals.bench") / "data" / "labelled_queries.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return [LabelledQuery(query=str(q["query"]), user=str(q["user"]), expect=tuple(str(e) for e in q["expect"]),
                          kind=str(q.get("kind", "semantic"))) for q in raw["queries"]]


def scope_for_user(policy: Any, user_id: str) -> DocumentScope:
    """The scope the gate and ``search_documents`` give ``user_id`` (a :class:`guardrails.policy.loader.Policy`)."""
    user = policy.user(user_id)
    roles = frozenset(user.roles)
    domains = frozenset(d for r in roles if r in policy.roles for d in policy.roles[r].domains)
    return DocumentScope(sites=user.sites, roles=roles, domains=domains)


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(index: KnowledgeIndex, policy: Any, queries: Sequence[LabelledQuery] | None = None) -> RetrievalBench:
    """Recall@5 and latencies of ``queries`` (default: the shipped labelled set) on ``index``."""
    labelled = list(queries) if queries is not None else load_queries()
    texts = [q.query for q in labelled]
    embed_ms: list[float] = []
    embed_cpu: list[float] = []
    vectors = []
    for text in texts:
        cpu, started = time.process_time(), time.perf_counter()
        vectors.append(index.embedder.embed([text])[0])
        embed_ms.append((time.perf_counter() - started) * 1000)
        embed_cpu.append((time.process_time() - cpu) * 1000)
    query_ms: list[float] = []
    query_cpu: list[float] = []
    outcomes: list[QueryOutcome] = []
    for query, vector in zip(labelled, vectors, strict=True):
        scope = scope_for_user(policy, query.user)
        cpu, started = time.process_time(), time.perf_counter()
        hits = index.search_vector(query.query, vector, scope, K)
        query_ms.append((time.perf_counter() - started) * 1000)
        query_cpu.append((time.process_time() - cpu) * 1000)
        found = tuple(dict.fromkeys(h.doc_id for h in hits))
        recall = sum(1 for e in query.expect if e in found) / len(query.expect)
        outcomes.append(QueryOutcome(query, found, recall))
    exact = [o.recall for o in outcomes if o.query.kind == "exact"]
    return RetrievalBench(
        queries=len(outcomes), recall_at_5=statistics.fmean(o.recall for o in outcomes) if outcomes else 0.0,
        exact_recall_at_5=statistics.fmean(exact) if exact else 1.0,
        query_p50_ms=statistics.median(query_ms) if query_ms else 0.0, query_p95_ms=_percentile(query_ms, 0.95),
        embed_query_p50_ms=statistics.median(embed_ms) if embed_ms else 0.0, outcomes=tuple(outcomes),
        query_cpu_p50_ms=statistics.median(query_cpu) if query_cpu else 0.0,
        embed_query_cpu_p50_ms=statistics.median(embed_cpu) if embed_cpu else 0.0)
