"""Fixtures on the real Postgres server that ``.ci/with-services`` starts on loopback (``make test`` runs it).

``JIDOKA_TEST_PG_URL`` names a superuser connection to that throwaway cluster; every test gets databases of its
own (created here, dropped after the test). A run without the variable FAILS the Postgres tests instead of
skipping them: the shared-engine paths must never go untested in CI.

``backend`` parametrizes a fixture over ``sqlite`` and ``postgres``; ``state_url`` and ``plant_url`` give a fresh
state database and a private copy of the demo plant on the backend under test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evals.bench.scale import admin_sql, database_url
from tests.factories import DEMO_SEED, TODAY

__all__ = ["BACKENDS"]

BACKENDS = ("sqlite", "postgres")
"""The database backends state and plant data run on."""


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The test cluster's superuser URL (fails the test when the cluster was not started)."""
    url = os.environ.get("JIDOKA_TEST_PG_URL")
    if not url:
        pytest.fail("JIDOKA_TEST_PG_URL is not set: run the tests with `make test` (or `.ci/with-services pytest …`),"
                    " which starts a throwaway Postgres on loopback")
    return url


@pytest.fixture(scope="session")
def pg_plant_template(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database holding the demo plant (built once per worker), copied by ``CREATE DATABASE … TEMPLATE``."""
    from server.schema import upgrade_plant
    from tools.demo import build_plant
    from tools.plant.db import make_engine

    name = f"jidoka_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_sql(pg_admin_url, f'CREATE DATABASE "{name}"')
    engine = make_engine(database_url(pg_admin_url, name))
    try:
        build_plant(engine, seed=DEMO_SEED, today=TODAY, manifest_dir=tmp_path_factory.mktemp("pg-manifest"))
        upgrade_plant(engine)  # as `jidoka init` leaves it: a server database is never upgraded at start
    finally:
        engine.dispose()  # a template must have no open connections when it is copied
    yield name
    admin_sql(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_admin_url: str) -> Iterator[Callable[..., str]]:
    """A factory of fresh Postgres databases for this test (``template=`` copies one); all dropped after it."""
    made: list[str] = []

    def make(template: str | None = None) -> str:
        name = f"jidoka_t_{uuid.uuid4().hex[:12]}"
        admin_sql(pg_admin_url, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        made.append(name)
        return database_url(pg_admin_url, name)

    yield make
    for name in made:
        admin_sql(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test: ``sqlite`` (embedded) or ``postgres`` (the shared engine)."""
    return str(request.param)


@pytest.fixture
def state_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty state database on the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    make: Callable[..., str] = request.getfixturevalue("pg_database")
    return make()


@pytest.fixture
def plant_url(backend: str, demo_home: Path, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """This test's own copy of the session's demo plant on the backend under test (free to write)."""
    if backend == "sqlite":
        target = tmp_path / "plant.db"
        shutil.copy(demo_home / "plant.db", target)
        return f"sqlite:///{target}"
    template: str = request.getfixturevalue("pg_plant_template")
    make: Callable[..., str] = request.getfixturevalue("pg_database")
    return make(template=template)
