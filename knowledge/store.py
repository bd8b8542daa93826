"""The knowledge index: document chunks in Chroma, searched within the reader's scope.

Chroma runs embedded (``PersistentClient`` under ``JIDOKA_HOME/knowledge``) or as a server
(``JIDOKA_CHROMA_URL``). Vectors always come from our :class:`knowledge.embeddings.Embedder`, never from
Chroma's default embedding function. Retrieval is hybrid: the dense query and a BM25 pass over the same
scoped chunks, fused by reciprocal rank; both carry the scope's ``where`` filter into Chroma.

The dense query carries the scope's ``where`` filter into Chroma on every search. The BM25 side works from
memory: each chunk's scope is kept next to its terms (:mod:`knowledge._catalog`) and the catalog is loaded again
whenever the collection's change token (chunk count and ingest generation marker) moves, so documents another
process ingests into a Chroma server are found by the next search, and deleted or re-scoped chunks are never
selected under their old scope; each lexical hit's row is read fresh and checked against the scope once more. The
terms are cached by chunk id — which holds a hash of the chunk's text, so a cached entry is never stale — and are
dropped when replaced chunks have made them much larger than the collection. An embedded store has one writing
process at a time (:mod:`knowledge._lock`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from knowledge._catalog import ChunkCatalog, read_token, scope_triple
from knowledge._lexical import LexicalIndex
from knowledge.embeddings import Embedder
from knowledge.errors import KnowledgeError, StoreUnavailable
from knowledge.scope import DocumentScope
from knowledge.urls import without_password

__all__ = ["Hit", "KnowledgeIndex", "SearchResult"]

_RRF_K = 60
_CANDIDATES = 20
_STALE_SLACK = 256
"""Cached chunk terms beyond the collection's size that are tolerated before the BM25 cache is dropped (entries
of chunks that re-ingests replaced or deleted are never scored, but they take memory)."""


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk."""

    chunk_id: str
    doc_id: str
    title: str
    section: str
    heading: str
    text: str
    revision: str
    effective: str
    score: float
    """Reciprocal-rank-fusion score (higher is better)."""
    dense_rank: int | None = None
    lexical_rank: int | None = None
    published_by: str = ""
    """Who published this revision (a policy user, or the system publisher); ``""`` when it was not recorded."""
    published_at: str = ""
    publication_request: str = ""
    """The approval request that published it, when one was needed."""

    @property
    def citation(self) -> str:
        """``QP-004 §3``."""
        return f"{self.doc_id} §{self.section}"


@dataclass(frozen=True)
class SearchResult:
    """Hits, best first, and where the time went."""

    hits: tuple[Hit, ...]
    embed_ms: float = 0.0
    retrieve_ms: float = 0.0

    @property
    def documents(self) -> tuple[str, ...]:
        """Distinct document ids of the hits, in rank order."""
        return tuple(dict.fromkeys(h.doc_id for h in self.hits))


def _slug(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", name).strip("-._") or "default"


class KnowledgeIndex:
    """Chunks of the plant's documents in one Chroma collection per embedder (vector spaces never mix)."""

    def __init__(self, embedder: Embedder, *, path: Path | None = None, url: str | None = None,
                 namespace: str = "") -> None:
        target: Path | str
        if path is not None and url is None:
            target = path
        elif url is not None and path is None:
            target = url
        else:
            raise ValueError("give exactly one of path (embedded Chroma) or url (Chroma server)")
        self.embedder = embedder
        self.path = path
        self.url = url
        self.namespace = namespace
        self.collection_name = f"jidoka-docs-{_slug(embedder.name)}" + (f"-{_slug(namespace)}" if namespace else "")
        """One collection per embedder (vector spaces never mix); a ``namespace`` suffix keeps indexes that share
        one Chroma server apart (tests on a shared server)."""
        self._target = target
        """Where the collection lives: a directory (embedded Chroma) or a server URL."""
        self._collection: Any = None
        self._client: Any = None
        self._lexical = LexicalIndex()
        """The BM25 side's inverted index, filled lazily (each chunk tokenized once per process)."""
        self._catalog: ChunkCatalog | None = None
        """Each chunk's scope, in memory (:mod:`knowledge._catalog`); loaded again when the collection changes."""

    @property
    def location(self) -> str:
        """Where the index lives, for messages (a server URL without its password)."""
        return without_password(self.url) if self.url else str(self.path)

    @property
    def collection(self) -> Any:
        """The Chroma collection (opened on first use)."""
        if self._collection is None:
            self._collection = self._open()
        return self._collection

    def _open(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if isinstance(self._target, str):
                parsed = urlparse(self._target)
                if parsed.scheme not in ("http", "https") or not parsed.hostname:
                    raise StoreUnavailable(f"JIDOKA_CHROMA_URL must be http(s)://host:port, got {self.location!r}")
                client: Any = chromadb.HttpClient(host=parsed.hostname,
                                                  port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                                                  ssl=parsed.scheme == "https", settings=settings)
            else:
                self._target.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(self._target), settings=settings)
            self._client = client
            return client.get_or_create_collection(
                self.collection_name, embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}}, metadata={"embedder": self.embedder.name})
        except StoreUnavailable:
            raise
        except Exception as exc:  # chromadb raises many kinds (connection, sqlite, validation)
            raise StoreUnavailable(f"cannot open the knowledge index at {self.location}: {exc}") from None

    def count(self) -> int:
        """Number of stored chunks."""
        return int(self.collection.count())

    def stored(self) -> dict[str, list[Mapping[str, Any]]]:
        """Stored chunk metadata by document id (each with its ``chunk_id``)."""
        got = self.collection.get(include=["metadatas"])
        out: dict[str, list[Mapping[str, Any]]] = {}
        for chunk_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            out.setdefault(str(meta["doc_id"]), []).append({**meta, "chunk_id": chunk_id})
        return out

    def search(self, query: str, scope: DocumentScope, limit: int = 5) -> SearchResult:
        """The ``limit`` best chunks for ``query`` that ``scope`` may read."""
        if scope.empty or not query.strip():
            return SearchResult(())
        started = time.perf_counter()
        vector = self.embedder.embed([query])[0]
        embedded = time.perf_counter()
        try:
            hits = self.search_vector(query, vector, scope, limit)
        except KnowledgeError:
            raise
        except Exception as exc:  # a Chroma server that went away, a damaged store
            self._collection = None  # opened again by the next search (a server back up, a collection re-made)
            self._catalog = None
            raise StoreUnavailable(f"the knowledge index at {self.location} failed: {exc}") from None
        done = time.perf_counter()
        return SearchResult(tuple(hits), embed_ms=(embedded - started) * 1000, retrieve_ms=(done - embedded) * 1000)

    def search_vector(self, query: str, vector: Sequence[float], scope: DocumentScope, limit: int) -> list[Hit]:
        """Hybrid retrieval with a precomputed query vector (dense + BM25, fused by reciprocal rank)."""
        if scope.empty:
            return []
        for _ in range(2):
            hits = self._hybrid(query, vector, scope, limit, strict=True)
            if hits is not None:
                return hits
            self._catalog = None  # the collection changed under the catalog: load it again and search again
        return self._hybrid(query, vector, scope, limit, strict=False) or []

    def _fresh_catalog(self) -> ChunkCatalog:
        token = read_token(self._client, self.collection, self.collection_name)
        catalog = self._catalog
        if catalog is None or catalog.token != token:
            catalog = self._catalog = ChunkCatalog.load(self.collection, token, self._lexical, _STALE_SLACK)
            self._lexical = catalog.lexical
        return catalog

    def _hybrid(self, query: str, vector: Sequence[float], scope: DocumentScope, limit: int,
                strict: bool) -> list[Hit] | None:
        """The hits; ``None`` when ``strict`` and a lexical hit's fresh row shows that the catalog is stale."""
        catalog = self._fresh_catalog()
        collection = self.collection
        total = catalog.token.count
        if not total:
            return []
        # The dense query carries the scope's filter into Chroma: it never depends on the catalog being fresh.
        dense = collection.query(query_embeddings=[list(vector)], n_results=min(_CANDIDATES, total),
                                 where=scope.where(), include=["documents", "metadatas"])
        rows: dict[str, tuple[str, Mapping[str, Any]]] = {}
        ranks: dict[str, dict[str, int]] = {}
        for rank, (cid, text, meta) in enumerate(zip(dense["ids"][0], dense["documents"][0],
                                                     dense["metadatas"][0], strict=True), start=1):
            rows[cid] = (text, meta)
            ranks.setdefault(cid, {})["dense"] = rank
        # The lexical side scores the chunks the catalog says the scope may read; each lexical hit's row is then
        # read fresh and checked against the scope again before it is used.
        view = catalog.scoped(scope)
        lexical = catalog.lexical.rank_scoped(query, view, _CANDIDATES)
        missing = [view.ids[i] for i, _ in lexical if view.ids[i] not in rows]
        if missing:
            got = collection.get(ids=missing, include=["documents", "metadatas"])
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                if scope.allows(*scope_triple(meta or {})):
                    rows[str(cid)] = (text, meta)
                elif strict:
                    return None
            if strict and any(cid not in rows for cid in missing):  # deleted since the catalog was loaded
                return None
        for rank, (index, _score) in enumerate(lexical, start=1):
            if view.ids[index] in rows:
                ranks.setdefault(view.ids[index], {})["lexical"] = rank
        fused = sorted(ranks, key=lambda c: (-sum(1.0 / (_RRF_K + r) for r in ranks[c].values()), c))
        return [_hit(cid, *rows[cid], ranks[cid]) for cid in fused[:limit]]


def _hit(cid: str, text: str, meta: Mapping[str, Any], r: Mapping[str, int]) -> Hit:
    return Hit(chunk_id=cid, doc_id=str(meta["doc_id"]), title=str(meta["title"]), section=str(meta["section"]),
               heading=str(meta["heading"]), text=text, revision=str(meta.get("revision", "")),
               effective=str(meta.get("effective", "")), score=round(sum(1.0 / (_RRF_K + v) for v in r.values()), 6),
               dense_rank=r.get("dense"), lexical_rank=r.get("lexical"),
               published_by=str(meta.get("published_by") or ""), published_at=str(meta.get("published_at") or ""),
               publication_request=str(meta.get("publication_request") or ""))
