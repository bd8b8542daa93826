"""Knowledge-base fixtures on the shared demo home with the corpus ingested (``tests/_knowledge_home.py``).

The corpus is ingested once per test run, shared by xdist workers; ``shared_index``, ``knowledge_home`` and
``private_knowledge_home`` come from that plugin. Only tests that ask for them pay for the ingest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.policy.loader import Policy
from knowledge.documents import Document, load_documents
from knowledge.embeddings import MiniLMEmbedder
from knowledge.ingest import demo_corpus_dir
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from server.settings import Settings
from tests import policy_helpers
from tests._knowledge_home import SharedIndex

__all__ = ["SharedIndex", "readable"]


@pytest.fixture(scope="session")
def demo_index(knowledge_home: Path) -> KnowledgeIndex:
    """The demo corpus index of this worker (read it, don't ingest into it)."""
    return KnowledgeIndex(MiniLMEmbedder(), path=knowledge_home / "knowledge")


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
