"""JIDOKA_MODEL parsing, model construction and identity, and model governance (policy section models:)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agent.errors import (
    ModelConfigError,
    ModelNotApproved,
    ModelPolicyError,
    ModelPolicyLoosening,
    UnknownRiskClass,
)
from agent.models import (
    LOCAL_SERVER_API_KEY,
    ApprovedModel,
    ModelIdentity,
    ModelPolicy,
    ModelSpec,
    build_chat_model,
    identify_model,
    model_identity,
)
from agent.scripted import ScriptedChatModel
from agent.testing.openai_stub import OpenAIStub, TextReply
from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy.loader import default_policy_dir, load_policy

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


class _RulesLike(BaseChatModel):
    """Stands in for the rules model (agent/rules): LangChain type ``rules`` and a ``version``."""

    version: str | None = "rules-2026.03"

    @property
    def _llm_type(self) -> str:
        return "rules"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("rules answer"))])


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

def _fail_rules() -> BaseChatModel:
    raise AssertionError("rules factory must not be called")


def test_build_openai_model_is_configured_for_fail_fast() -> None:
    model = build_chat_model(ModelSpec.parse("openai:qwen2.5:7b"), base_url="http://localhost:11434/v1",
                             api_key="sk-x", timeout_s=12.5, rules_factory=_fail_rules)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "qwen2.5:7b"
    assert model.openai_api_base == "http://localhost:11434/v1"
    assert isinstance(model.openai_api_key, SecretStr) and model.openai_api_key.get_secret_value() == "sk-x"
    assert model.max_retries == 0
    assert model.request_timeout == 12.5
    assert model.stream_usage is True


def test_build_rules_model_calls_the_injected_factory() -> None:
    made: list[BaseChatModel] = []

    def factory() -> BaseChatModel:
        made.append(_RulesLike())
        return made[-1]

    model = build_chat_model(ModelSpec.parse("rules"), base_url=None, api_key=None, timeout_s=5,
                             rules_factory=factory)
    assert made == [model]


def test_local_server_without_key_gets_a_placeholder_key() -> None:
    model = build_chat_model(ModelSpec.parse("openai:llama3"), base_url="http://127.0.0.1:8000/v1",
                             api_key="", timeout_s=5, rules_factory=_fail_rules)
    assert isinstance(model, ChatOpenAI)
    assert isinstance(model.openai_api_key, SecretStr)
    assert model.openai_api_key.get_secret_value() == LOCAL_SERVER_API_KEY


@pytest.mark.parametrize(("base_url", "api_key", "timeout_s", "variable"), [
    (None, None, 5.0, "OPENAI_API_KEY"),
    (None, "  ", 5.0, "OPENAI_API_KEY"),
    ("localhost:8000/v1", "k", 5.0, "OPENAI_BASE_URL"),
    ("ftp://host/v1", "k", 5.0, "OPENAI_BASE_URL"),
    ("http://localhost:8000/v1", "k", 0, "timeout_s"),
    ("http://localhost:8000/v1", "k", -1.0, "timeout_s"),
])
def test_bad_model_settings_name_the_variable(base_url: str | None, api_key: str | None, timeout_s: float,
                                             variable: str) -> None:
    with pytest.raises(ModelConfigError) as info:
        build_chat_model(ModelSpec.parse("openai:gpt-4o-mini"), base_url=base_url, api_key=api_key,
                         timeout_s=timeout_s, rules_factory=_fail_rules)
    assert info.value.variable == variable


# ---- identity ------------------------------------------------------------------------------------------

def test_identity_of_openai_model_before_and_after_a_reply() -> None:
    stub = OpenAIStub([TextReply("hi")], served_model="gpt-4o-mini-2024-07-18", fingerprint="fp_44709d6fcb")
    with stub:
        model = build_chat_model(ModelSpec.parse("openai:gpt-4o-mini"), base_url=stub.base_url, api_key="k",
                                 timeout_s=10, rules_factory=_fail_rules)
        reply = model.invoke("hello")
    assert isinstance(reply, AIMessage)
    assert identify_model(model) == ModelIdentity("openai", "gpt-4o-mini", "unknown")
    assert model_identity(model, reply) == {"provider": "openai", "model": "gpt-4o-mini",
                                            "version": "gpt-4o-mini-2024-07-18",
                                            "system_fingerprint": "fp_44709d6fcb"}


def test_identity_of_rules_and_other_models() -> None:
    assert model_identity(_RulesLike()) == {"provider": "rules", "model": "rules", "version": "rules-2026.03",
                                            "system_fingerprint": None}
    assert identify_model(_RulesLike(version=None)).version == "unknown"
    scripted = ScriptedChatModel(script=[AIMessage("x")])
    assert identify_model(scripted) == ModelIdentity("scripted", "scripted", "unknown")


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
