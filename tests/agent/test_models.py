"""JIDOKA_MODEL: model construction and identity (the policy's ``models:`` section is tested under guardrails)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from sqlalchemy import create_engine

from agent.models import (
    LOCAL_SERVER_API_KEY,
    ModelIdentity,
    build_chat_model,
    identify_model,
    model_identity,
)
from agent.rules import PlantLexicon, RulesChatModel
from agent.scripted import ScriptedChatModel
from agent.testing.openai_stub import OpenAIStub, TextReply
from guardrails.errors import ModelConfigError
from guardrails.policy.models import ModelSpec


class _RulesLike(BaseChatModel):
    """Stands in for the rules model (agent/rules): its LangChain type ``jidoka-rules`` and a ``version``."""

    version: str | None = "rules-2026.03"

    @property
    def _llm_type(self) -> str:
        return "jidoka-rules"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("rules answer"))])


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


def test_the_real_rules_model_is_recognised_and_names_its_version(demo_home: Path) -> None:
    # Which rules answered: a digest of the rules model's code and data, recorded in the audit.
    engine = create_engine(f"sqlite:///{demo_home / 'plant.db'}")
    try:
        lexicon = PlantLexicon.from_engine(engine)
    finally:
        engine.dispose()
    real = identify_model(build_chat_model(ModelSpec.parse("rules"), base_url=None, api_key=None, timeout_s=5,
                                           rules_factory=lambda: RulesChatModel(lexicon=lexicon)))
    assert (real.provider, real.model) == ("rules", "rules")
    assert re.fullmatch(r"rules-[0-9a-f]{12}", real.version)
