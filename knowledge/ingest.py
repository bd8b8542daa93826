"""Idempotent ingestion: only new or changed text is embedded; vanished documents are removed.

A document whose hash is unchanged is skipped. In a changed document, chunks whose text is unchanged keep
their vectors (the chunk id holds the text's hash) and only get new metadata; new chunks are embedded;
chunks that are gone are deleted. A folder ingest also removes documents that were ingested from that
folder before and are no longer in it. Into an embedded store, an ingest holds the store's writer lock
(:mod:`knowledge._lock`) while it writes: it fails at once while a server on that store runs.

Every chunk an ingest writes carries its :class:`~knowledge.provenance.Publication` (who published it, when, and
through which approval request). Nothing here decides who may publish what: ``jidoka knowledge ingest`` goes
through the publication gate of :mod:`guardrails.publishing`, which calls these functions once it has decided.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from knowledge._catalog import bump_generation
from knowledge._lock import writing
from knowledge.documents import Chunk, Document, chunk_document, load_documents
from knowledge.provenance import Publication
from knowledge.store import KnowledgeIndex

__all__ = ["IngestReport", "demo_corpus_dir", "ingest_documents", "ingest_path", "writing"]

_ADD_BATCH = 256


@dataclass(frozen=True)
class IngestReport:
    """What an ingest changed."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    chunks_embedded: int
    chunks_total: int
    seconds: float

    def summary(self) -> str:
        """One line for the CLI."""
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                f"{len(self.removed)} removed; {self.chunks_embedded} chunks embedded, {self.chunks_total} "
                f"in the index ({self.seconds:.1f} s)")


def demo_corpus_dir() -> Path:
    """The demo plant's documents shipped with jidoka (``knowledge/corpus``)."""
    return Path(str(resources.files("knowledge") / "corpus"))


_UNSTAMPED = Publication(published_by="", published_at="")


def _metadata(document: Document, chunk: Chunk, source: str, publication: Publication) -> dict[str, Any]:
    return {"doc_id": document.doc_id, "title": document.title, "section": chunk.section,
            "heading": chunk.heading, "part": chunk.part, "revision": document.revision,
            "effective": document.effective.isoformat(), "language": document.language,
            "doc_hash": document.content_hash, "source": source, "sites": list(document.sites),
            "roles": list(document.roles), "domains": list(document.domains), **publication.metadata()}


def ingest_documents(index: KnowledgeIndex, documents: Sequence[Document], *, source: str,
                     prune: bool = False, publication: Publication | None = None,
                     remove: Sequence[str] = ()) -> IngestReport:
    """Bring ``documents`` into ``index``, stamped with ``publication``; with ``prune``, remove documents of
    ``source`` not among them; ``remove`` names further documents to delete.

    Raises :class:`~knowledge.errors.StoreInUse` when another process writes to the same embedded store.
    """
    with writing(index.path):
        return _ingest(index, documents, source=source, prune=prune, publication=publication or _UNSTAMPED,
                       remove=frozenset(remove))


def _ingest(index: KnowledgeIndex, documents: Sequence[Document], *, source: str, prune: bool,
            publication: Publication, remove: frozenset[str]) -> IngestReport:
    started = time.perf_counter()
    stored = index.stored()
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    to_embed: list[tuple[Chunk, dict[str, Any]]] = []
    keep_ids: list[str] = []
    keep_meta: list[dict[str, Any]] = []
    delete_ids: list[str] = []
    for document in documents:
        old = stored.get(document.doc_id, [])
        if old and all(m.get("doc_hash") == document.content_hash for m in old):
            unchanged.append(document.doc_id)
            continue
        (updated if old else added).append(document.doc_id)
        old_ids = {str(m["chunk_id"]) for m in old}
        new_chunks = chunk_document(document)
        for chunk in new_chunks:
            meta = _metadata(document, chunk, source, publication)
            if chunk.chunk_id in old_ids:
                keep_ids.append(chunk.chunk_id)
                keep_meta.append(meta)
            else:
                to_embed.append((chunk, meta))
        delete_ids += sorted(old_ids - {c.chunk_id for c in new_chunks})
    removed: list[str] = []
    present = {d.doc_id for d in documents}
    for doc_id, metas in sorted(stored.items()):
        vanished = prune and any(m.get("source") == source for m in metas)
        if doc_id not in present and (vanished or doc_id in remove):
            removed.append(doc_id)
            delete_ids += [str(m["chunk_id"]) for m in metas]
    collection = index.collection
    changes = bool(delete_ids or keep_ids or to_embed)
    if changes:  # before and after writing: a reader that loads its catalog meanwhile sees the second marker
        bump_generation(collection)
    if delete_ids:
        collection.delete(ids=delete_ids)
    if keep_ids:
        collection.update(ids=keep_ids, metadatas=keep_meta)
    for start in range(0, len(to_embed), _ADD_BATCH):
        batch = to_embed[start:start + _ADD_BATCH]
        vectors = index.embedder.embed([c.text for c, _ in batch])
        collection.add(ids=[c.chunk_id for c, _ in batch], embeddings=vectors, documents=[c.text for c, _ in batch],
                       metadatas=[m for _, m in batch])
    if changes:
        bump_generation(collection)
    return IngestReport(added=tuple(added), updated=tuple(updated), unchanged=tuple(unchanged),
                        removed=tuple(removed), chunks_embedded=len(to_embed), chunks_total=index.count(),
                        seconds=time.perf_counter() - started)


def ingest_path(index: KnowledgeIndex, path: Path) -> IngestReport:
    """Ingest one Markdown file or every document under a folder (a folder ingest prunes its vanished docs)."""
    resolved = path.expanduser().resolve()
    documents = load_documents(resolved)
    return ingest_documents(index, documents, source=str(resolved), prune=resolved.is_dir())
