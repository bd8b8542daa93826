"""Fixtures for screening tests: the policy's default rules and the labelled screening set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrails.policy.loader import load_default_rules
from guardrails.screening.screen import ScreeningRules

LABELLED = Path(__file__).parent / "data" / "screening_labelled.yaml"


@pytest.fixture(scope="module")
def rules() -> ScreeningRules:
    """The screening rules of the shipped policy."""
    return load_default_rules()


@pytest.fixture(scope="module")
def labelled() -> list[dict[str, Any]]:
    """The labelled screening set (attacks and benign look-alikes, tune and heldout splits)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(LABELLED.read_text(encoding="utf-8"), Loader=loader)["items"]
