"""Fixtures of the server tests: the test Chroma server (Postgres databases come from ``tests._pg_service``).

``JIDOKA_TEST_CHROMA_URL`` names the Chroma server ``.ci/with-services`` starts on loopback. A test that needs it
fails, naming the variable, when it is unset: the shared-engine tests must never be skipped silently.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def chroma_server_url() -> str:
    """The test Chroma server's URL (``JIDOKA_TEST_CHROMA_URL``); fails the test when it is not set."""
    raw = os.environ.get("JIDOKA_TEST_CHROMA_URL", "").strip()
    if not raw:
        pytest.fail("JIDOKA_TEST_CHROMA_URL is not set: run the tests with `make test` (or `.ci/with-services "
                    "pytest …`), which starts a throwaway Chroma server on loopback", pytrace=False)
    return raw
