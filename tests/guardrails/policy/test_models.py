"""Model governance: the model id grammar (``JIDOKA_MODEL``) and the policy's ``models:`` section."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrails.errors import (
    ModelConfigError,
    ModelNotApproved,
    ModelPolicyError,
    ModelPolicyLoosening,
    PolicyError,
    PolicyLoosening,
    UnknownRiskClass,
)
from guardrails.policy.loader import default_policy_dir, load_policy
from guardrails.policy.models import ApprovedModel, ModelPolicy, ModelSpec

# The snippet handed to the lead for guardrails/policy/layers/enterprise.yaml; tested here as written.
ENTERPRISE_MODELS_YAML = """\
models:
  approved:
    - id: rules
      provider: rules
      description: Built-in offline rules model (no network).
      risk_classes: [advisory, approval]
    - id: "openai:gpt-4o-mini"
      provider: openai
      description: OpenAI gpt-4o-mini, or a compatible server at OPENAI_BASE_URL.
      risk_classes: [advisory, approval]
    - id: "openai:qwen2.5:7b"
      provider: openai
      description: Qwen 2.5 7B on a local OpenAI-compatible server (Ollama, vLLM, LM Studio).
      risk_classes: [advisory]
"""
TOP = ("enterprise.yaml", yaml.safe_load(ENTERPRISE_MODELS_YAML)["models"])


# ---- ModelSpec -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "provider", "name", "model_id"), [
    (None, "rules", "rules", "rules"),
    ("", "rules", "rules", "rules"),
    ("  rules ", "rules", "rules", "rules"),
    ("RULES", "rules", "rules", "rules"),
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", "openai:gpt-4o-mini"),
    ("openai:qwen2.5:7b", "openai", "qwen2.5:7b", "openai:qwen2.5:7b"),
    (" OpenAI:meta-llama/Llama-3.1-8B-Instruct ", "openai", "meta-llama/Llama-3.1-8B-Instruct",
     "openai:meta-llama/Llama-3.1-8B-Instruct"),
])
def test_model_spec_parses_allowed_forms(text: str | None, provider: str, name: str, model_id: str) -> None:
    spec = ModelSpec.parse(text)
    assert (spec.provider, spec.name, spec.id) == (provider, name, model_id)
    assert spec.raw == (text or "")


@pytest.mark.parametrize("text", ["gpt-4o-mini", "anthropic:claude-3", "openai", "openai:", "openai: gpt 4",
                                  "rules:v2", "openai:a\tb"])
def test_model_spec_rejects_other_text_naming_the_variable(text: str) -> None:
    with pytest.raises(ModelConfigError) as info:
        ModelSpec.parse(text)
    assert info.value.variable == "JIDOKA_MODEL"
    assert str(info.value).startswith("JIDOKA_MODEL: ")
    assert "openai:" in str(info.value)
    assert isinstance(info.value, ValueError)


# ---- build_chat_model ----------------------------------------------------------------------------------


# ---- ModelPolicy ---------------------------------------------------------------------------------------

def test_approved_model_passes_with_its_risk_classes() -> None:
    policy = ModelPolicy.from_sections([TOP])
    approved = policy.check(ModelSpec.parse("openai:qwen2.5:7b"))

    assert approved == ApprovedModel(
        "openai:qwen2.5:7b", "openai", frozenset({"advisory"}), "enterprise.yaml",
        "Qwen 2.5 7B on a local OpenAI-compatible server (Ollama, vLLM, LM Studio).")
    assert approved.may_propose("read") and approved.may_propose("advisory")
    assert not approved.may_propose("approval") and not approved.may_propose("autonomous")
    assert policy.check(ModelSpec.parse("rules")).may_propose("approval")
    assert policy.approved_ids == ("openai:gpt-4o-mini", "openai:qwen2.5:7b", "rules")
    with pytest.raises(UnknownRiskClass, match="'write'"):
        approved.may_propose("write")


def test_unapproved_model_is_refused_naming_model_file_and_approved() -> None:
    policy = ModelPolicy.from_sections([TOP], source="/etc/jidoka/policy")
    with pytest.raises(ModelNotApproved) as info:
        policy.check(ModelSpec.parse("openai:gpt-4o"))

    message = str(info.value)
    assert "'openai:gpt-4o'" in message
    assert "enterprise.yaml in /etc/jidoka/policy" in message
    assert "openai:gpt-4o-mini, openai:qwen2.5:7b, rules" in message
    assert info.value.model_id == "openai:gpt-4o"
    assert info.value.file == "enterprise.yaml in /etc/jidoka/policy"


def test_lower_layer_cannot_add_a_model() -> None:
    lower = ("plants/P100.yaml", {"approved": [{"id": "openai:gpt-4o", "provider": "openai"}]})
    with pytest.raises(ModelPolicyLoosening) as info:
        ModelPolicy.from_sections([TOP, lower])
    assert info.value.file == "plants/P100.yaml"
    assert info.value.key == "models.approved[0]"
    assert "'openai:gpt-4o'" in str(info.value)
    assert isinstance(info.value, PolicyLoosening)


def test_lower_layer_cannot_add_a_risk_class() -> None:
    lower = ("domains/procurement.yaml",
             {"approved": [{"id": "openai:qwen2.5:7b", "risk_classes": ["approval"]}]})
    with pytest.raises(ModelPolicyLoosening, match=r"would let 'openai:qwen2\.5:7b' propose 'approval'"):
        ModelPolicy.from_sections([TOP, lower])


def test_lower_layer_narrows_models_and_risk_classes() -> None:
    lower = ("plants/P200.yaml", {"approved": [{"id": "rules"},
                                               {"id": "openai:gpt-4o-mini", "risk_classes": ["advisory"]}]})
    policy = ModelPolicy.from_sections([TOP, lower])

    assert policy.approved_ids == ("openai:gpt-4o-mini", "rules")
    mini = policy.check(ModelSpec.parse("openai:gpt-4o-mini"))
    assert mini.may_propose("advisory") and not mini.may_propose("approval")
    assert mini.approved_in == "enterprise.yaml"
    assert policy.check(ModelSpec.parse("rules")).risk_classes == frozenset({"advisory", "approval"})
    with pytest.raises(ModelNotApproved, match=r"the policy layer plants/P200\.yaml removes it") as info:
        policy.check(ModelSpec.parse("openai:qwen2.5:7b"))
    assert info.value.file == "plants/P200.yaml"


def test_lower_layer_removes_a_model_by_id() -> None:
    policy = ModelPolicy.from_sections([TOP, ("domains/finance.yaml", {"remove": ["openai:gpt-4o-mini"]})])
    assert policy.approved_ids == ("openai:qwen2.5:7b", "rules")
    assert policy.removed_by == {"openai:gpt-4o-mini": "domains/finance.yaml"}
    with pytest.raises(ModelPolicyError, match="'openai:nope' is not approved above"):
        ModelPolicy.from_sections([TOP, ("plants/P100.yaml", {"remove": ["openai:nope"]})])


def test_without_an_enterprise_section_only_rules_is_approved_and_lower_layers_cannot_add() -> None:
    default = ModelPolicy.from_sections([])
    assert default.approved_ids == ("rules",)
    assert not default.check(ModelSpec.parse("rules")).may_propose("advisory")
    with pytest.raises(ModelNotApproved):
        default.check(ModelSpec.parse("openai:gpt-4o-mini"))
    domain_only = ("domains/procurement.yaml", {"approved": [{"id": "openai:gpt-4o-mini"}]})
    with pytest.raises(ModelPolicyLoosening):
        ModelPolicy.from_sections([domain_only], top_file="enterprise.yaml")


@pytest.mark.parametrize(("raw", "key", "fragment"), [
    (["rules"], "models", "must be a mapping"),
    ({"approve": []}, "models.approve", "unknown key"),
    ({"approved": {"id": "rules"}}, "models.approved", "must be a list"),
    ({"approved": ["rules"]}, "models.approved[0]", "must be a mapping"),
    ({"approved": [{"id": "rules"}, {"id": "rules"}]}, "models.approved[1].id", "listed twice"),
    ({"approved": [{"id": "gpt-4o"}]}, "models.approved[0].id", "must be"),
    ({"approved": [{"id": 7}]}, "models.approved[0].id", "model id"),
    ({"approved": [{"id": "openai:gpt-4o-mini", "provider": "rules"}]}, "models.approved[0].provider",
     "does not match"),
    ({"approved": [{"id": "rules", "risk_classes": ["advisory", "write"]}]},
     "models.approved[0].risk_classes", "unknown risk class 'write'"),
    ({"approved": [{"id": "rules", "temperature": 0}]}, "models.approved[0].temperature", "unknown key"),
    ({"remove": ["rules"]}, "models.remove", "unknown key"),
])
def test_bad_models_section_names_file_and_key(raw: Any, key: str, fragment: str) -> None:
    with pytest.raises(ModelPolicyError) as info:
        ModelPolicy.from_sections([("enterprise.yaml", raw)])
    assert (info.value.file, info.value.key) == ("enterprise.yaml", key)
    assert fragment in info.value.message
    assert isinstance(info.value, PolicyError)


def test_from_policy_reads_the_models_sections_of_a_loaded_policy(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), folder)
    enterprise = folder / "enterprise.yaml"
    data = yaml.safe_load(enterprise.read_text())
    data["models"] = TOP[1]  # whatever the shipped file says, this test knows its own models section
    enterprise.write_text(yaml.safe_dump(data, allow_unicode=True))
    plant = next((folder / "plants").glob("*.yaml"))
    plant.write_text(plant.read_text() + "\nmodels:\n  remove: [\"openai:qwen2.5:7b\"]\n")

    policy = ModelPolicy.from_policy(load_policy(folder))

    assert "openai:gpt-4o-mini" in policy.approved_ids and "rules" in policy.approved_ids
    assert "openai:qwen2.5:7b" not in policy.approved_ids
    assert policy.removed_by == {"openai:qwen2.5:7b": f"plants/{plant.name}"}
    with pytest.raises(ModelNotApproved, match=str(folder)):
        policy.check(ModelSpec.parse("openai:o3"))
