"""Fixtures for the bench plumbing tests: a private copy of the session's demo plant."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def bench_home(demo_home: Path, tmp_path: Path) -> Path:
    """A JIDOKA_HOME with a copy of the demo plant (the session's plant stays untouched)."""
    home = tmp_path / "home"
    home.mkdir()
    for path in demo_home.iterdir():
        if path.is_file() and (path.name.startswith("plant") or path.suffix == ".json"):
            shutil.copy2(path, home / path.name)
    return home
