"""The error tree of the knowledge package: every failure a caller can cause, with what to do about it."""

from __future__ import annotations

__all__ = [
    "CorpusError",
    "EmbedderUnavailable",
    "EmbeddingError",
    "KnowledgeError",
    "StoreUnavailable",
]


class KnowledgeError(Exception):
    """Base of every error raised by the knowledge package."""


class EmbedderUnavailable(KnowledgeError):
    """The configured embedder cannot be built (package missing, unknown ``JIDOKA_EMBEDDINGS`` value)."""


class EmbeddingError(KnowledgeError):
    """An embedder failed on some input (a remote endpoint error, a malformed response)."""


class CorpusError(KnowledgeError):
    """A document cannot be ingested; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class StoreUnavailable(KnowledgeError):
    """The Chroma store cannot be opened or reached (``JIDOKA_HOME/knowledge`` or ``JIDOKA_CHROMA_URL``)."""
