"""Fixtures for agent tests: an OpenAI-compatible stub server on 127.0.0.1, and ChatOpenAI models on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from langchain_core.language_models import BaseChatModel

from agent.models import build_chat_model
from agent.testing.openai_stub import OpenAIStub
from guardrails.policy.models import ModelSpec


@pytest.fixture(scope="session")
def _openai_stub_server() -> Iterator[OpenAIStub]:
    """One stub server per test session (starting one takes a few tenths of a second)."""
    with OpenAIStub() as stub:
        yield stub


@pytest.fixture
def openai_stub(_openai_stub_server: OpenAIStub) -> Iterator[OpenAIStub]:
    """The stub server with an empty script and no recorded requests; push replies in the test."""
    yield _openai_stub_server.reset()
    _openai_stub_server.reset()


@pytest.fixture
def openai_chat(openai_stub: OpenAIStub) -> Callable[..., BaseChatModel]:
    """Build the agent's ``ChatOpenAI`` (via :func:`agent.models.build_chat_model`) pointed at the stub."""

    def make(model: str = "openai:gpt-4o-mini", *, timeout_s: float = 10.0) -> BaseChatModel:
        def no_rules() -> BaseChatModel:
            raise AssertionError("the rules model must not be built for an openai model")

        return build_chat_model(ModelSpec.parse(model), base_url=openai_stub.base_url, api_key="test-key",
                                timeout_s=timeout_s, rules_factory=no_rules)

    return make
