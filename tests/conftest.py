"""Shared fixtures: settings on a temp home, the runtime factory, a blank plant schema, and the generated demo plant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from server.runtime import RuntimeFactory
from server.settings import Settings
from tests.factories import AS_OF, DEMO_SEED, TODAY
from tools.plant.db import make_engine
from tools.plant.schema import metadata, table

# netguard fails any test that opens a connection beyond loopback (real model providers included);
# _knowledge_home adds the opt-in demo home with the corpus ingested once per run (knowledge_home);
# _pg_service gives Postgres databases on the test cluster and the sqlite/postgres `backend` parameter;
# _chroma_service gives the test Chroma server (chroma_url, chroma_index). Both fail when not configured.
pytest_plugins = ["tests.netguard", "tests._knowledge_home", "tests._pg_service", "tests._chroma_service"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose home is a fresh temp folder."""
    return Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})


@pytest.fixture(scope="session")
def runtime_factory() -> RuntimeFactory:
    """The runtime factory the eval harness and the benchmarks get from the CLI, on the default settings."""
    return RuntimeFactory(Settings.from_env({}))


@pytest.fixture
def blank_plant(tmp_path: Path) -> Iterator[Engine]:
    """An empty plant database: the canonical schema, the two sites and the as-of time, no other rows."""
    engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table("sites").insert(),
            [
                {"site_id": "P100", "name": "Aurora Packaging & Assembly", "country": "US",
                 "timezone": "America/Chicago"},
                {"site_id": "P200", "name": "Monterrey Components", "country": "MX",
                 "timezone": "America/Monterrey"},
            ],
        )
        conn.execute(table("plant_meta").insert(), [
            {"key": "as_of", "value": AS_OF.isoformat()},
            {"key": "today", "value": TODAY.isoformat()},
        ])
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JIDOKA_HOME holding the generated demo plant (built once per test session)."""
    from tools.demo import build_plant

    home = tmp_path_factory.mktemp("demo-home")
    engine = make_engine(f"sqlite:///{home / 'plant.db'}")
    build_plant(engine, seed=DEMO_SEED, today=TODAY, manifest_dir=home)
    engine.dispose()
    return home


@pytest.fixture(scope="session")
def demo_plant(demo_home: Path) -> Iterator[Engine]:
    """An engine on the generated demo plant. Treat it as read-only."""
    engine = make_engine(f"sqlite:///{demo_home / 'plant.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_manifest(demo_home: Path) -> dict[str, Any]:
    """The generator's manifest of planted rows and scenarios."""
    data: dict[str, Any] = json.loads((demo_home / "plant_manifest.json").read_text())
    return data


@pytest.fixture
def private_home(private_knowledge_home: Path) -> Path:
    """A home of this test only (copied plant and index): for tests that write (actions, audit, ingest)."""
    return private_knowledge_home
