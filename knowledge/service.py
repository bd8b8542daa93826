"""Building the knowledge index from settings values, and the embedded store's writer lock (the runtime and the
CLI call these)."""

from __future__ import annotations

from pathlib import Path

from knowledge._lock import Role, WriterLock
from knowledge.embeddings import make_embedder
from knowledge.store import KnowledgeIndex

__all__ = ["KNOWLEDGE_DIR", "Role", "WriterLock", "hold_writer_lock", "open_index"]

KNOWLEDGE_DIR = "knowledge"
"""The embedded Chroma store's folder under ``JIDOKA_HOME``."""


def open_index(home: Path, *, embeddings: str = "minilm", chroma_url: str | None = None,
               openai_base_url: str | None = None, openai_api_key: str | None = None,
               timeout_s: float = 20.0) -> KnowledgeIndex:
    """The knowledge index for these settings. Nothing is opened or loaded until the first use."""
    embedder = make_embedder(embeddings, base_url=openai_base_url, api_key=openai_api_key, timeout_s=timeout_s)
    if chroma_url:
        return KnowledgeIndex(embedder, url=chroma_url)
    return KnowledgeIndex(embedder, path=home / KNOWLEDGE_DIR)


def hold_writer_lock(home: Path, role: Role, *, chroma_url: str | None = None) -> WriterLock | None:
    """Take the writer lock of the embedded store under ``home`` for ``role`` (``serve``: for the server's lifetime;
    release it on shutdown), or ``None`` with a Chroma server, which every process shares without one.

    Raises :class:`~knowledge.errors.StoreInUse` at once when another process holds it.
    """
    if chroma_url:
        return None
    return WriterLock(home / KNOWLEDGE_DIR, role).acquire()
