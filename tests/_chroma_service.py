"""pytest plugin: the Chroma server of the backend tests (``JIDOKA_TEST_CHROMA_URL``).

``.ci/with-services`` starts a throwaway ``chroma run`` on loopback and exports the variable; a test that needs
the server fails — never skips — when it is unset, so the server backend cannot drop out of CI unnoticed. The
server is shared by the xdist workers: every index a test makes on it (:func:`chroma_index`) lives in a collection
of its own (a unique namespace) that is deleted afterwards. ``dead_chroma_url`` is a Chroma server that is down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import pytest

from knowledge.embeddings import Embedder
from knowledge.store import KnowledgeIndex

__all__ = ["CHROMA_URL_ENV", "ChromaIndexes", "drop_collection"]

CHROMA_URL_ENV = "JIDOKA_TEST_CHROMA_URL"

ChromaIndexes = Callable[..., KnowledgeIndex]
"""``chroma_index(embedder, namespace=None)``: a :class:`KnowledgeIndex` on the test server."""


def drop_collection(url: str, name: str) -> None:
    """Delete collection ``name`` from the Chroma server at ``url`` (missing is fine)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parsed = urlparse(url)
    client = chromadb.HttpClient(host=parsed.hostname or "127.0.0.1", port=parsed.port or 8000,
                                 settings=ChromaSettings(anonymized_telemetry=False))
    if name in {c.name for c in client.list_collections()}:
        client.delete_collection(name)


@pytest.fixture(scope="session")
def chroma_url() -> str:
    """The test Chroma server's URL; the test fails when ``JIDOKA_TEST_CHROMA_URL`` is unset."""
    url = os.environ.get(CHROMA_URL_ENV, "").strip()
    if not url:
        pytest.fail(f"{CHROMA_URL_ENV} is not set: this test needs a Chroma server — run the tests under "
                    ".ci/with-services (it starts one), or `chroma run` one and export its URL", pytrace=False)
    return url


def _indexes(url: str) -> Iterator[ChromaIndexes]:
    made: list[KnowledgeIndex] = []
    run = uuid.uuid4().hex[:12]

    def make(embedder: Embedder, namespace: str | None = None) -> KnowledgeIndex:
        index = KnowledgeIndex(embedder, url=url, namespace=f"t{run}-{namespace or len(made)}")
        made.append(index)
        return index

    yield make
    for name in sorted({index.collection_name for index in made}):
        drop_collection(url, name)


@pytest.fixture
def chroma_index(chroma_url: str) -> Iterator[ChromaIndexes]:
    """Make indexes on the test server in collections of this test only (deleted after it). Indexes made with the
    same ``namespace`` share a collection, as processes sharing one server do."""
    yield from _indexes(chroma_url)


@pytest.fixture(scope="session")
def session_chroma_index(chroma_url: str) -> Iterator[ChromaIndexes]:
    """:func:`chroma_index` for session fixtures: collections of this worker, deleted when the session ends."""
    yield from _indexes(chroma_url)


@pytest.fixture(scope="session")
def dead_chroma_url() -> str:
    """The URL of a Chroma server that is down: a loopback port nobody listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
