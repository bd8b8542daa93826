"""Fixtures for approval tests: a private copy of the shipped policy directory to change files in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guardrails.policy.loader import default_policy_dir


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A copy of the shipped policy directory."""
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    return target
