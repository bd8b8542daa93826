"""Fixtures for agent tests: an OpenAI-compatible stub server on 127.0.0.1, ChatOpenAI models on it, and a private
copy of the demo plant with valid P100 arguments for every action (the approval-flow tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from sqlalchemy import Engine

from agent.models import build_chat_model
from agent.rules import PlantLexicon, RulesChatModel
from agent.testing.openai_stub import OpenAIStub
from guardrails.audit.log import AuditLog
from guardrails.policy.loader import Policy
from guardrails.policy.models import ModelSpec
from tests.agent.action_cases import p100_cases
from tests.agent.graph_helpers import copy_plant
from tests.policy_helpers import shipped_policy
from tools.plant.db import make_engine


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


@pytest.fixture
def spike(demo_manifest: dict[str, Any]) -> dict[str, Any]:
    """The planted scrap-spike scenario of the demo plant's manifest."""
    data: dict[str, Any] = demo_manifest["scenarios"]["scrap_spike"]
    return data


@pytest.fixture
def plant_file(demo_home: Path, tmp_path: Path) -> Path:
    """A private copy of the demo plant (actions change it)."""
    return copy_plant(demo_home, tmp_path)


@pytest.fixture
def cases(plant_file: Path, spike: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Valid P100 arguments for every action on ``plant_file``."""
    engine = make_engine(f"sqlite:///{plant_file}")
    try:
        return p100_cases(engine, spike)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def policy() -> Policy:
    """The shipped policy (cached for the test process)."""
    return shipped_policy()


@pytest.fixture(scope="module")
def model(demo_plant: Engine) -> RulesChatModel:
    """The offline rules model on the seed-7 demo plant (cues only, no semantic stage)."""
    return RulesChatModel(lexicon=PlantLexicon.from_engine(demo_plant))


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditLog]:
    """An audit log on a fresh SQLite state database, shared by one test module's tool calls."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('agent-audit') / 'state.db'}")
    log = AuditLog(engine)
    log.create_schema()
    yield log
    engine.dispose()
