"""Knowledge-base fixtures on the shared demo home with the corpus ingested (``tests/_knowledge_home.py``).

The corpus is ingested once per test run, shared by xdist workers; ``shared_index``, ``knowledge_home`` and
``private_knowledge_home`` come from that plugin. Only tests that ask for them pay for the ingest.

``demo_index`` runs its tests on both backends: embedded Chroma, and the test Chroma server
(``tests/_chroma_service.py``) into which each worker ingests the demo corpus once, reusing the embedded index's
vectors instead of embedding the corpus again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from guardrails.policy.loader import Policy
from knowledge.documents import Document, load_documents
from knowledge.embeddings import MiniLMEmbedder
from knowledge.ingest import demo_corpus_dir, ingest_path
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from server.settings import Settings
from tests import policy_helpers
from tests._chroma_service import ChromaIndexes
from tests._knowledge_home import SharedIndex

__all__ = ["SharedIndex", "readable"]


class MemoEmbedder:
    """MiniLM that embeds each text once per worker: both backends' tests embed the same queries, and the server
    index is given the corpus chunks' vectors from the embedded one instead of embedding the corpus again."""

    name = "minilm"

    def __init__(self) -> None:
        self._minilm = MiniLMEmbedder()
        self.vectors: dict[str, list[float]] = {}
        self.embedded = 0
        """Texts actually embedded so far."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self._minilm.embed(missing), strict=True))
            self.embedded += len(missing)
        return [self.vectors[t] for t in texts]


@pytest.fixture(scope="session")
def embedded_demo_index(knowledge_home: Path) -> KnowledgeIndex:
    """The demo corpus index of this worker on embedded Chroma (read it, don't ingest into it)."""
    return KnowledgeIndex(MemoEmbedder(), path=knowledge_home / "knowledge")


@pytest.fixture(scope="session")
def server_demo_index(embedded_demo_index: KnowledgeIndex, session_chroma_index: ChromaIndexes) -> KnowledgeIndex:
    """The demo corpus ingested into the test Chroma server, in a collection of this worker (read it only)."""
    embedder = embedded_demo_index.embedder
    if not isinstance(embedder, MemoEmbedder):
        raise TypeError(f"the embedded demo index embeds with {type(embedder).__name__}, not MemoEmbedder")
    got = embedded_demo_index.collection.get(include=["documents", "embeddings"])
    embedder.vectors.update((str(text), [float(x) for x in vector])
                            for text, vector in zip(got["documents"], got["embeddings"], strict=True))
    before = embedder.embedded
    index = session_chroma_index(embedder, "demo")
    report = ingest_path(index, demo_corpus_dir())
    if report.chunks_total != embedded_demo_index.count() or embedder.embedded != before:
        raise RuntimeError(f"the server's demo index differs from the embedded one: {report.summary()}")
    return index


@pytest.fixture(scope="session", params=["embedded", "server"])
def demo_index(request: pytest.FixtureRequest) -> KnowledgeIndex:
    """The demo corpus index of this worker, on each backend in turn (read it, don't ingest into it)."""
    index: KnowledgeIndex = request.getfixturevalue(f"{request.param}_demo_index")
    return index


@pytest.fixture(scope="session")
def knowledge_settings(knowledge_home: Path) -> Settings:
    return Settings.from_env({"JIDOKA_HOME": str(knowledge_home)})


@pytest.fixture(scope="session")
def shipped_policy() -> Policy:
    return policy_helpers.shipped_policy()


@pytest.fixture(scope="session")
def corpus() -> dict[str, Document]:
    return {d.doc_id: d for d in load_documents(demo_corpus_dir())}


def readable(document: Document, scope: DocumentScope) -> bool:
    """Whether ``scope`` may read ``document``, from its front matter."""
    return scope.allows(document.sites, document.roles, document.domains)
