"""Fixtures for the action tests: a private copy of the demo plant per test (never the shared one)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tools.plant.db import make_engine


@pytest.fixture
def plant_file(demo_home: Path, tmp_path: Path) -> Path:
    """A copy of the session demo plant's database file (actions may change it freely)."""
    target = tmp_path / "plant.db"
    shutil.copy(demo_home / "plant.db", target)
    return target


@pytest.fixture
def plant(plant_url: str) -> Iterator[Engine]:
    """An engine on this test's own copy of the demo plant, on each backend (SQLite and Postgres)."""
    engine = make_engine(plant_url)
    yield engine
    engine.dispose()


@pytest.fixture
def scenarios(demo_manifest: dict[str, Any]) -> dict[str, Any]:
    """The planted scenarios of the demo plant (scrap_spike, asset_risk, reallocation ...)."""
    data: dict[str, Any] = demo_manifest["scenarios"]
    return data
