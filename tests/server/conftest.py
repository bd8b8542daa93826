"""Fixtures of the server tests: a throwaway database on the test Postgres server.

``JIDOKA_TEST_PG_URL`` names a superuser on that server's ``postgres`` database (``.ci/with-services`` starts the
server and exports it). A test that needs Postgres fails, naming the variable, when it is unset: the backend tests
must never be skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import URL, create_engine, text
from sqlalchemy.engine import make_url

PG_URL_VARIABLE = "JIDOKA_TEST_PG_URL"


@pytest.fixture(scope="session")
def postgres_admin_url() -> URL:
    """The test Postgres server's admin URL (``JIDOKA_TEST_PG_URL``); fails the test when it is not set."""
    raw = os.environ.get(PG_URL_VARIABLE, "").strip()
    if not raw:
        pytest.fail(f"{PG_URL_VARIABLE} is not set: this test needs the test Postgres server — run the suite under "
                    f".ci/with-services, or export {PG_URL_VARIABLE}=postgresql+psycopg://USER@HOST:PORT/postgres",
                    pytrace=False)
    return make_url(raw)


@pytest.fixture
def postgres_database(postgres_admin_url: URL) -> Iterator[URL]:
    """A new, empty database on the test server (dropped afterwards, open connections and all); its URL."""
    name = f"jidoka_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield postgres_admin_url.set(database=name)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def chroma_server_url() -> str:
    """The test Chroma server's URL (``JIDOKA_TEST_CHROMA_URL``); fails the test when it is not set."""
    raw = os.environ.get("JIDOKA_TEST_CHROMA_URL", "").strip()
    if not raw:
        pytest.fail("JIDOKA_TEST_CHROMA_URL is not set: this test needs the test Chroma server — run the suite under "
                    ".ci/with-services, or export JIDOKA_TEST_CHROMA_URL=http://HOST:PORT", pytrace=False)
    return raw
