"""Fixtures for demo-plant tests: every table of the session plant, read once per module."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.tools.demo.demo_helpers import fetch
from tools.plant.schema import metadata


@pytest.fixture(scope="module")
def db(demo_plant: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every table of the session plant, read once."""
    return {name: fetch(demo_plant, name) for name in sorted(metadata.tables)}
