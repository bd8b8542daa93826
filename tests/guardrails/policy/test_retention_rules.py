"""The policy's audit.retention rules: days per sealed kind, shortened by domain layers and by plants for their site."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy.loader import default_policy_dir, load_policy
from guardrails.policy.retention import RetentionRules


def _policy(tmp_path: Path, enterprise: object, plant: object | None = None, domain: object | None = None) -> Path:
    folder = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), folder)
    for path, retention in ((folder / "enterprise.yaml", enterprise), (folder / "plants" / "P200.yaml", plant),
                            (next((folder / "domains").glob("*.yaml")), domain)):
        if retention is None:
            continue
        data = yaml.safe_load(path.read_text())
        data.setdefault("audit", {})["retention"] = retention
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return folder


def test_the_shipped_rules() -> None:
    rules = RetentionRules.from_policy(load_policy())
    assert rules.days_for("prompt", "P100") == 400 and rules.days_for("model_request", "*") == 90
    assert rules.source("answer", "P200") == "enterprise.yaml"


def test_a_plant_shortens_for_its_own_site_and_a_domain_everywhere(tmp_path: Path) -> None:
    folder = _policy(tmp_path, {"prompt": 400, "answer": 400}, plant={"prompt": 30}, domain={"answer": 200})
    rules = RetentionRules.from_policy(load_policy(folder))
    assert (rules.days_for("prompt", "P200"), rules.days_for("prompt", "P100"), rules.days_for("prompt", "*")) == (
        30, 400, 400)
    assert rules.days_for("answer", "P100") == 200 and rules.days_for("model_response", "P100") is None
    assert rules.source("prompt", "P200") == "plants/P200.yaml"


def test_a_plant_may_add_a_rule_for_a_kind_kept_above(tmp_path: Path) -> None:
    rules = RetentionRules.from_policy(load_policy(_policy(tmp_path, {"prompt": 400}, plant={"answer": 60})))
    assert rules.days_for("answer", "P200") == 60 and rules.days_for("answer", "P100") is None


def test_a_lower_layer_cannot_keep_longer(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoosening) as info:
        RetentionRules.from_policy(load_policy(_policy(tmp_path, {"prompt": 90}, plant={"prompt": 365})))
    assert (info.value.file, info.value.key) == ("plants/P200.yaml", "audit.retention.prompt")


@pytest.mark.parametrize(("retention", "key", "fragment"), [
    ({"gate_decision": 30}, "audit.retention.gate_decision", "only sealed kinds"),
    ({"prompt": 0}, "audit.retention.prompt", ">= 1"),
    ({"prompt": "90d"}, "audit.retention.prompt", "whole number"),
    ({"prompt": True}, "audit.retention.prompt", "whole number"),
    (["prompt"], "audit.retention", "must map"),
])
def test_bad_rules_name_file_and_key(tmp_path: Path, retention: object, key: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        RetentionRules.from_policy(load_policy(_policy(tmp_path, retention)))
    assert (info.value.file, info.value.key) == ("enterprise.yaml", key) and fragment in info.value.message
