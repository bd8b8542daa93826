"""The in-memory scope catalog: retrieval returns exactly what the reference path returned, and never widens a scope.

The reference is the retrieval before the catalog (kept here, as ``bm25_rank`` is kept for the lexical index): it
asked Chroma for the scope's chunk ids (``get(where=scope.where())``) on every search and scored those. The fast
path must return the same hits — ids, order, ranks, scores — for every labelled query in every user's scope, on
both backends; and a chunk that was removed or re-scoped must not come back to a reader who lost access, even when
the catalog missed the change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from evals.bench.retrieval_quality import load_queries, scope_for_user
from guardrails.policy.loader import Policy
from knowledge import _catalog, store
from knowledge._lexical import LexicalIndex
from knowledge.ingest import ingest_path
from knowledge.scope import DocumentScope
from knowledge.store import Hit, KnowledgeIndex
from tests.knowledge.test_ingest import DOC, CountingEmbedder

PLANNER = DocumentScope(None, frozenset({"planner"}), frozenset({"quality"}))
QUALITY = DocumentScope(None, frozenset({"quality"}), frozenset({"quality"}))


def reference_search(index: KnowledgeIndex, query: str, vector: Sequence[float], scope: DocumentScope,
                     limit: int) -> list[Hit]:
    """The retrieval before the catalog: the scoped ids read from Chroma, their terms loaded under the filter."""
    where = scope.where()
    collection = index.collection
    total = collection.count()
    if scope.empty or not total:
        return []
    dense = collection.query(query_embeddings=[list(vector)], n_results=min(store._CANDIDATES, total), where=where,
                             include=["documents", "metadatas"])
    rows: dict[str, tuple[str, Mapping[str, Any]]] = {}
    ranks: dict[str, dict[str, int]] = {}
    for rank, (cid, text, meta) in enumerate(zip(dense["ids"][0], dense["documents"][0], dense["metadatas"][0],
                                                 strict=True), start=1):
        rows[cid] = (text, meta)
        ranks.setdefault(cid, {})["dense"] = rank
    got = collection.get(where=where, include=["documents", "metadatas"])
    scoped = [str(i) for i in got["ids"]]
    lexical_index = LexicalIndex()
    lexical_index.add((str(cid), text or "") for cid, text in zip(got["ids"], got["documents"], strict=True))
    by_id = dict(zip(scoped, zip(got["documents"], got["metadatas"], strict=True), strict=True))
    lexical = lexical_index.rank(query, scoped, store._CANDIDATES)
    for rank, (i, _score) in enumerate(lexical, start=1):
        rows.setdefault(scoped[i], by_id[scoped[i]])
        ranks.setdefault(scoped[i], {})["lexical"] = rank
    fused = sorted(ranks, key=lambda c: (-sum(1.0 / (store._RRF_K + r) for r in ranks[c].values()), c))
    return [store._hit(cid, *rows[cid], ranks[cid]) for cid in fused[:limit]]


def _same(got: list[Hit], want: list[Hit]) -> None:
    assert [(h.chunk_id, h.dense_rank, h.lexical_rank) for h in got] == \
        [(h.chunk_id, h.dense_rank, h.lexical_rank) for h in want]
    assert all(math.isclose(a.score, b.score, abs_tol=1e-9) for a, b in zip(got, want, strict=True))
    assert [h.text for h in got] == [h.text for h in want] and [h.doc_id for h in got] == [h.doc_id for h in want]


def test_the_fast_path_returns_the_reference_hits_for_every_query_and_scope(
        demo_index: KnowledgeIndex, shipped_policy: Policy) -> None:
    queries = load_queries()
    scopes = {u: scope_for_user(shipped_policy, u) for u in sorted(shipped_policy.users)}
    vectors = demo_index.embedder.embed([q.query for q in queries])
    compared = lexical = 0
    # Each query is compared in half of the scopes (a third on the server, the same code path over HTTP), rotating,
    # so every scope still meets half (a third) of the queries: the suite's time budget.
    stride = 3 if demo_index.url else 2
    for i, (query, vector) in enumerate(zip(queries, vectors, strict=True)):
        for scope in list(scopes.values())[i % stride::stride]:
            want = reference_search(demo_index, query.query, vector, scope, 10)
            got = demo_index.search_vector(query.query, vector, scope, 10)
            _same(got, want)
            compared += bool(want)
            lexical += sum(h.lexical_rank is not None and h.dense_rank is None for h in want)
    assert compared > len(queries) * 3 // stride and lexical > 50 // stride  # both sides and lexical-only hits


def test_the_catalog_lists_the_scoped_chunks_in_chromas_order(demo_index: KnowledgeIndex,
                                                              shipped_policy: Policy) -> None:
    demo_index.search_vector("warm up", [1.0 / math.sqrt(384)] * 384, PLANNER, 1)
    catalog = demo_index._catalog
    assert catalog is not None
    for user in sorted(shipped_policy.users):
        scope = scope_for_user(shipped_policy, user)
        if scope.empty:
            continue
        chroma = [str(i) for i in demo_index.collection.get(where=scope.where(), include=[])["ids"]]
        assert list(catalog.scoped(scope).ids) == chroma, user


class _CountingCollection:
    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.calls: list[tuple[str, Any, Any]] = []

    def query(self, **kwargs: Any) -> Any:
        self.calls.append(("query", kwargs.get("where"), kwargs.get("ids")))
        return self._collection.query(**kwargs)

    def get(self, **kwargs: Any) -> Any:
        self.calls.append(("get", kwargs.get("where"), kwargs.get("ids")))
        return self._collection.get(**kwargs)

    def count(self) -> int:
        return int(self._collection.count())


def test_a_search_filters_once_in_chroma_and_reads_only_its_hits_rows(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "QP-100.md").write_text(DOC, encoding="utf-8")
    index = KnowledgeIndex(CountingEmbedder(), path=tmp_path / "index")
    ingest_path(index, folder)
    index.search("red label", PLANNER, 5)  # loads the catalog
    spy = _CountingCollection(index.collection)
    index._collection = spy
    hits = index.search("red label", PLANNER, 5).hits
    assert hits
    # One filtered dense query; a lexical hit's row is read by id (and checked); no catalog reload.
    assert [c for c in spy.calls if c[0] == "query"] == [("query", PLANNER.where(), None)]
    assert all(c[2] for c in spy.calls if c[0] == "get")


def _rescope(text: str) -> str:
    return text.replace('roles: ["*"]', "roles: [quality]")


def test_a_narrowed_scope_is_never_served_from_the_old_catalog(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "QP-100.md").write_text(DOC, encoding="utf-8")
    serving = KnowledgeIndex(CountingEmbedder(), path=tmp_path / "index")
    ingest_path(serving, folder)
    assert serving.search("red label", PLANNER, 5).documents == ("QP-100",)

    # Another index (as another worker would) re-ingests the document for quality only: same chunk texts, so the
    # chunks keep their ids and only their metadata changes.
    (folder / "QP-100.md").write_text(_rescope(DOC), encoding="utf-8")
    report = ingest_path(KnowledgeIndex(CountingEmbedder(), path=tmp_path / "index"), folder)
    assert (report.updated, report.chunks_embedded) == (("QP-100",), 0)
    assert serving.search("red label", PLANNER, 10).hits == ()
    assert serving.search("red label", QUALITY, 5).documents == ("QP-100",)


def test_a_missed_change_marker_still_never_widens_the_scope(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "QP-100.md").write_text(DOC, encoding="utf-8")
    serving = KnowledgeIndex(CountingEmbedder(), path=tmp_path / "index")
    ingest_path(serving, folder)
    vector = CountingEmbedder().embed(["red label"])[0]
    before = serving.search_vector("red label", vector, PLANNER, 5)
    assert before and before[0].lexical_rank == 1
    # The change is made without a new marker (a writer that bypasses the ingest), and the catalog keeps its token.
    token = serving._catalog.token if serving._catalog else None
    monkeypatch.setattr(store, "read_token", lambda *_: token)
    got = serving.collection.get(include=["metadatas"])
    serving.collection.update(ids=got["ids"], metadatas=[{**m, "roles": ["quality"]} for m in got["metadatas"]])
    assert serving.search_vector("red label", vector, PLANNER, 10) == []  # the fresh rows are checked
    monkeypatch.setattr(store, "read_token", _catalog.read_token)
    assert serving.search_vector("red label", vector, QUALITY, 5)[0].lexical_rank == 1
