"""The plant's documents in Chroma, with offline embeddings and authorization before retrieval.

``open_index(home)`` gives a :class:`KnowledgeIndex` (embedded Chroma under ``JIDOKA_HOME/knowledge`` or a
Chroma server); :func:`ingest_path` brings Markdown documents into it idempotently; ``index.search(query,
DocumentScope(...))`` returns only chunks the reader's sites, roles and domains allow. Nothing is opened or
loaded at import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.documents import Chunk, Document, chunk_document, load_documents, parse_document
    from knowledge.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder, make_embedder
    from knowledge.errors import (
        CorpusError,
        EmbedderUnavailable,
        EmbeddingError,
        KnowledgeError,
        StoreInUse,
        StoreUnavailable,
    )
    from knowledge.ingest import IngestReport, demo_corpus_dir, ingest_documents, ingest_path
    from knowledge.provenance import Publication, PublishedDocument, published_documents
    from knowledge.scope import GENERAL_DOMAIN, DocumentScope
    from knowledge.service import hold_writer_lock, open_index
    from knowledge.store import Hit, KnowledgeIndex, SearchResult

# Names resolve on first access: importing knowledge.scope (the tools do) must not load numpy or httpx.
_HOMES = {
    "documents": ("Chunk", "Document", "chunk_document", "load_documents", "parse_document"),
    "embeddings": ("Embedder", "MiniLMEmbedder", "OpenAIEmbedder", "make_embedder"),
    "errors": ("CorpusError", "EmbedderUnavailable", "EmbeddingError", "KnowledgeError", "StoreInUse",
               "StoreUnavailable"),
    "ingest": ("IngestReport", "demo_corpus_dir", "ingest_documents", "ingest_path"),
    "provenance": ("Publication", "PublishedDocument", "published_documents"),
    "scope": ("GENERAL_DOMAIN", "DocumentScope"),
    "service": ("hold_writer_lock", "open_index"),
    "store": ("Hit", "KnowledgeIndex", "SearchResult"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'knowledge' has no attribute {name!r}")
    return getattr(importlib.import_module(f"knowledge.{module}"), name)


__all__ = [
    "GENERAL_DOMAIN",
    "Chunk",
    "CorpusError",
    "Document",
    "DocumentScope",
    "Embedder",
    "EmbedderUnavailable",
    "EmbeddingError",
    "Hit",
    "IngestReport",
    "KnowledgeError",
    "KnowledgeIndex",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "Publication",
    "PublishedDocument",
    "SearchResult",
    "StoreInUse",
    "StoreUnavailable",
    "chunk_document",
    "demo_corpus_dir",
    "hold_writer_lock",
    "ingest_documents",
    "ingest_path",
    "load_documents",
    "make_embedder",
    "open_index",
    "parse_document",
    "published_documents",
]
