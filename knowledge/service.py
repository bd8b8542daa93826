"""Building the knowledge index from settings values (the runtime and the CLI call this)."""

from __future__ import annotations

from pathlib import Path

from knowledge.embeddings import make_embedder
from knowledge.store import KnowledgeIndex

__all__ = ["KNOWLEDGE_DIR", "open_index"]

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
