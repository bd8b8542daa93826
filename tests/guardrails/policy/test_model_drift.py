"""The policy's models.drift thresholds: defaults, layering (tighten only) and errors naming file and key."""

from __future__ import annotations

from typing import Any

import pytest

from guardrails.errors import ModelPolicyError, ModelPolicyLoosening
from guardrails.policy.loader import load_policy
from guardrails.policy.model_drift import DriftThresholds
from guardrails.policy.models import ModelPolicy

APPROVED = {"approved": [{"id": "rules", "provider": "rules", "risk_classes": ["advisory"]}]}


def _drift(top: dict[str, Any] | None, *lower: dict[str, Any]) -> DriftThresholds:
    sections = [("enterprise.yaml", {**APPROVED, **({"drift": top} if top is not None else {})}),
                *((f"plants/p{i}.yaml", {"drift": raw}) for i, raw in enumerate(lower))]
    return ModelPolicy.from_sections(sections, top_file="enterprise.yaml").drift


def test_defaults_apply_without_a_section_and_name_their_source() -> None:
    drift = _drift(None)
    assert drift == DriftThresholds()
    assert (drift.window_turns, drift.min_turns, drift.limit("fallback")) == (200, 30, 0.10)
    assert drift.source("max_fallback_rate") == "built-in default"


def test_the_shipped_policy_sets_the_thresholds() -> None:
    drift = ModelPolicy.from_policy(load_policy()).drift
    assert drift.source("max_refusal_rate") == "enterprise.yaml"
    assert 0 < drift.limit("refusal") < 1 and drift.min_turns <= drift.window_turns


def test_a_lower_layer_tightens_and_is_named_as_the_source() -> None:
    drift = _drift({"window_turns": 100, "max_fallback_rate": 0.2}, {"max_fallback_rate": 0.05, "min_turns": 10})
    assert (drift.window_turns, drift.limit("fallback"), drift.min_turns) == (100, 0.05, 10)
    assert drift.source("max_fallback_rate") == "plants/p0.yaml" and drift.source("window_turns") == "enterprise.yaml"


@pytest.mark.parametrize(("lower", "key"), [
    ({"max_fallback_rate": 0.5}, "models.drift.max_fallback_rate"),
    ({"min_turns": 31}, "models.drift.min_turns"),
])
def test_a_lower_layer_cannot_loosen(lower: dict[str, Any], key: str) -> None:
    with pytest.raises(ModelPolicyLoosening) as info:
        _drift(None, lower)
    assert (info.value.file, info.value.key) == ("plants/p0.yaml", key)


@pytest.mark.parametrize(("top", "lower", "key", "fragment"), [
    ({"max_fallback_rate": 1.5}, None, "models.drift.max_fallback_rate", "between 0 and 1"),
    ({"max_refusal_rate": True}, None, "models.drift.max_refusal_rate", "between 0 and 1"),
    ({"window_turns": 0}, None, "models.drift.window_turns", ">= 1"),
    ({"min_turns": 2.5}, None, "models.drift.min_turns", "whole number"),
    ({"window_turns": 10}, None, "models.drift.min_turns", "more than window_turns"),
    ({"max_latency": 1}, None, "models.drift.max_latency", "unknown key"),
    ([], None, "models.drift", "must be a mapping"),
    (None, {"window_turns": 50}, "models.drift.window_turns", "unknown key"),
])
def test_bad_thresholds_name_file_and_key(top: Any, lower: dict[str, Any] | None, key: str, fragment: str) -> None:
    with pytest.raises(ModelPolicyError) as info:
        if lower is None:
            ModelPolicy.from_sections([("enterprise.yaml", {**APPROVED, "drift": top})])
        else:
            _drift(top, lower)
    assert info.value.key == key and fragment in info.value.message


def test_an_unknown_measure_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown drift measure"):
        DriftThresholds().limit("latency")
