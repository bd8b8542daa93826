"""The error tree of the knowledge package, and :class:`JidokaError`, the root of every jidoka error.

The root lives here because knowledge is the lowest layer: every package's error tree can derive from it without
importing upwards. The CLI and the HTTP error handler catch the root, so any package's error reaches a person as
one clear sentence, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "CorpusError",
    "EmbedderUnavailable",
    "EmbeddingError",
    "JidokaError",
    "KnowledgeError",
    "StoreUnavailable",
]


class JidokaError(Exception):
    """Root of every error jidoka raises on purpose; its message is one sentence a person can act on."""


class KnowledgeError(JidokaError):
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
