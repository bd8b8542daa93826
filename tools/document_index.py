"""What the document search tool needs of a knowledge index (``knowledge.KnowledgeIndex`` provides it).

A protocol, so the tool layer states its need without depending on Chroma or the embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from knowledge.scope import DocumentScope

__all__ = ["DocumentIndex"]


class _HitLike(Protocol):
    @property
    def chunk_id(self) -> str: ...

    @property
    def doc_id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def section(self) -> str: ...

    @property
    def heading(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def revision(self) -> str: ...

    @property
    def effective(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def citation(self) -> str: ...

    @property
    def published_by(self) -> str: ...

    @property
    def published_at(self) -> str: ...

    @property
    def publication_request(self) -> str: ...


class _ResultLike(Protocol):
    @property
    def hits(self) -> Sequence[_HitLike]: ...


class DocumentIndex(Protocol):
    """What the tool needs of a knowledge index (``knowledge.KnowledgeIndex`` provides it)."""

    def search(self, query: str, scope: DocumentScope, limit: int = 5) -> _ResultLike:
        """The best chunks for ``query`` that ``scope`` may read."""
        ...
