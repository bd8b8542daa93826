"""The inverted lexical index ranks exactly like the plain BM25 scorer, within the scope it is given.

``bm25_rank`` over per-chunk term counts is the reference (the scorer retrieval used before the index). Both run
on the demo corpus's chunks, over random scope subsets and random queries (corpus words, compound ids, words in
no chunk), and must return the same chunks in the same order with the same scores.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

import pytest

from evals.bench.retrieval_quality import scope_for_user
from guardrails.policy.loader import Policy
from knowledge._lexical import K1, B, LexicalIndex, terms
from knowledge.documents import Chunk, Document, chunk_document, load_documents
from knowledge.ingest import demo_corpus_dir
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from tests.knowledge.conftest import readable
from tests.policy_helpers import shipped_policy


# The plain scorer retrieval used before the index: the reference the index must equal.
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
                score += idf[term] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
        if score > 0:
            scored.append((i, score))
    scored.sort(key=lambda s: (-s[1], s[0]))
    return scored[:limit]


@pytest.fixture(scope="module")
def chunks() -> list[Chunk]:
    return [c for d in load_documents(demo_corpus_dir()) for c in chunk_document(d)]


@pytest.fixture(scope="module")
def index(chunks: list[Chunk]) -> LexicalIndex:
    lexical = LexicalIndex()
    lexical.add((c.chunk_id, c.text) for c in chunks)
    return lexical


def _queries(chunks: list[Chunk], rng: random.Random, n: int) -> list[str]:
    words = sorted({w for c in chunks for w in c.text.split()})
    extra = ["QP-004", "sop-112", "nonexistentword", "the and of", "pump", "pumps", "Qualité", "P100", "§3", ""]
    out = []
    for _ in range(n):
        picked = rng.sample(words, rng.randint(1, 6)) + rng.sample(extra, rng.randint(0, 2))
        rng.shuffle(picked)
        out.append(" ".join(picked))
    return out + extra


def _same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) for (_, a), (_, b) in zip(got, want, strict=True))


def test_index_ranks_like_the_reference_on_random_scopes_and_queries(chunks: list[Chunk],
                                                                     index: LexicalIndex) -> None:
    rng = random.Random(20261125)
    counts = {c.chunk_id: Counter(terms(c.text)) for c in chunks}
    ids = [c.chunk_id for c in chunks]
    assert len(index) == len(set(ids)) > 100
    nonempty = 0
    for query in _queries(chunks, rng, 300):
        scoped = rng.sample(ids, rng.randint(1, len(ids)))  # any order: ties break on the position in the list
        limit = rng.choice([1, 5, 20, 1000])
        want = bm25_rank(query, [counts[i] for i in scoped], limit)
        _same(index.rank(query, scoped, limit), want)
        nonempty += bool(want)
    assert nonempty > 250
    assert index.rank("pump", [], 5) == [] == bm25_rank("pump", [], 5)


def test_statistics_come_only_from_the_given_chunks(chunks: list[Chunk], index: LexicalIndex) -> None:
    # A chunk outside the scope changes neither which chunks are scored nor the idf/average length.
    target = next(c for c in chunks if "QP-004" in c.text)
    others = [c.chunk_id for c in chunks if "QP-004" not in c.text][:40]
    scoped = [*others, target.chunk_id]
    ranked = index.rank("QP-004", scoped, 5)
    assert ranked and all(scoped[i] == target.chunk_id for i, _ in ranked)
    assert index.rank("QP-004", others, 5) == []
    small = LexicalIndex()
    small.add((cid, next(c.text for c in chunks if c.chunk_id == cid)) for cid in scoped)
    _same(index.rank("QP-004 quality", scoped, 5), small.rank("QP-004 quality", scoped, 5))


def test_re_adding_a_chunk_keeps_one_entry(chunks: list[Chunk]) -> None:
    lexical = LexicalIndex()
    lexical.add([(chunks[0].chunk_id, chunks[0].text), (chunks[0].chunk_id, chunks[0].text)])
    assert len(lexical) == 1
    assert chunks[0].chunk_id in lexical


@pytest.fixture(scope="module")
def policy() -> Policy:
    return shipped_policy()


@pytest.mark.parametrize("user", ["pat.planner", "bo.buyer", "quinn.quality", "max.maint", "eve.exec"])
def test_hybrid_search_ranks_lexical_side_as_before_and_stays_in_scope(
        demo_index: KnowledgeIndex, corpus: dict[str, Document], chunks: list[Chunk], policy: Policy,
        user: str) -> None:
    scope: DocumentScope = scope_for_user(policy, user)
    if scope.empty:
        pytest.skip(f"{user} reads no documents")
    got = demo_index.collection.get(where=scope.where(), include=["documents", "metadatas"])
    scoped = [str(i) for i in got["ids"]]
    assert all(readable(corpus[str(m["doc_id"])], scope) for m in got["metadatas"])
    reference = [Counter(terms(t or "")) for t in got["documents"]]
    vector = [1.0 / math.sqrt(384)] * 384  # fixed: the dense side is not under test, and no embedding is needed
    rng = random.Random(user)
    compared = 0
    for query in _queries(chunks, rng, 20):
        want_rank = {scoped[i]: r for r, (i, _) in enumerate(bm25_rank(query, reference, 20), start=1)}
        hits = demo_index.search_vector(query, vector, scope, 10)
        assert all(readable(corpus[h.doc_id], scope) for h in hits)
        for hit in hits:
            assert want_rank.get(hit.chunk_id) == hit.lexical_rank, query
            compared += hit.lexical_rank is not None
    assert compared > 20
