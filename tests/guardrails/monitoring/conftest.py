"""A runtime on this test's own copy of the demo plant and a fresh state database, on SQLite and on Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from guardrails.monitoring import Monitor
from server.runtime import Runtime, RuntimeOverrides, build_runtime
from server.schema import upgrade_schema
from server.settings import Settings
from tests.policy_helpers import shipped_policy
from tools import make_engine


@pytest.fixture
def runtime(tmp_path: Path, plant_url: str, state_url: str) -> Iterator[Runtime]:
    """A runtime on a private plant copy and state database (the monitor writes both)."""
    base = Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})
    settings = replace(base, data_url=plant_url, state_url=state_url)
    plant, state = make_engine(plant_url), make_engine(state_url)
    try:  # a server database is upgraded explicitly (`jidoka db upgrade`), as in a deployment
        upgrade_schema(plant, state, state_url)
    finally:
        plant.dispose()
        state.dispose()
    built = build_runtime(settings, RuntimeOverrides(policy=shipped_policy()))
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def monitor(runtime: Runtime) -> Monitor:
    """The runtime's monitor."""
    if runtime.monitor is None:
        raise AssertionError("the runtime has no monitor")
    return runtime.monitor
