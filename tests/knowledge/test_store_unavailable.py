"""Chroma down: the document search is refused as unavailable (audited), the turn is degraded, and the user is
told the knowledge base is unavailable — never 'not found'."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.copilot import Copilot, TurnResult
from agent.scripted import ScriptedChatModel
from agent.unavailable import unavailable_line
from guardrails.policy.models import ModelPolicy
from knowledge.errors import StoreUnavailable
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from server.runtime import Runtime, RuntimeOverrides, build_copilot, build_runtime
from server.settings import Settings
from tests.knowledge.test_ingest import DOC, CountingEmbedder

KNOWLEDGE_DOWN = ("The knowledge base (document search) is unavailable right now, so I cannot answer from the "
                  "plant's documents; please try again later.")
QUESTION = "what is the procedure for a seal defect hold?"


@pytest.fixture(scope="module")
def down_runtime(knowledge_home: Path, dead_chroma_url: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The demo plant (read only) with the knowledge base on a Chroma server nobody listens for."""
    home = tmp_path_factory.mktemp("chroma-down")
    runtime = build_runtime(Settings.from_env({
        "JIDOKA_HOME": str(home), "JIDOKA_DATA_URL": f"sqlite:///{knowledge_home / 'plant.db'}",
        "JIDOKA_CHROMA_URL": dead_chroma_url}))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def rules_copilot(down_runtime: Runtime) -> Copilot:
    return build_copilot(down_runtime)


def _records(runtime: Runtime, result: TurnResult) -> list[Any]:
    return runtime.audit.by_trace(result.trace_id)


def test_the_index_says_the_store_is_unavailable(dead_chroma_url: str) -> None:
    index = KnowledgeIndex(CountingEmbedder(), url=dead_chroma_url)
    scope = DocumentScope(None, frozenset({"planner"}), frozenset({"quality"}))
    with pytest.raises(StoreUnavailable, match=f"cannot open the knowledge index at {dead_chroma_url}"):
        index.search("hold procedure", scope)


def test_a_document_question_is_degraded_and_says_the_knowledge_base_is_unavailable(
        rules_copilot: Copilot, down_runtime: Runtime, dead_chroma_url: str) -> None:
    result = rules_copilot.ask("quinn.quality", QUESTION)
    assert [(c["name"], c["decision"]) for c in result.tool_calls] == [("search_documents", "allow")]
    assert result.answer == KNOWLEDGE_DOWN == unavailable_line("search_documents")
    assert "Not found" not in result.answer and dead_chroma_url not in result.answer  # no internals for the user
    assert result.degraded and result.unavailable == ["search_documents"]
    assert result.citations == [] and result.unverified == []
    assert result.to_json()["degraded"] is True and result.to_json()["unavailable"] == ["search_documents"]

    records = _records(down_runtime, result)
    errors = [r.payload for r in records if str(r.kind) == "error"]
    assert len(errors) == 1 and errors[0]["tool"] == "search_documents" and errors[0]["error"] == "unavailable"
    assert dead_chroma_url in errors[0]["message"]  # the operator's details are in the audit
    answer = next(r.payload for r in records if str(r.kind) == "answer")
    assert answer["unavailable"] == ["search_documents"] and answer["text"] == KNOWLEDGE_DOWN
    assert down_runtime.audit.verify().ok


def test_a_spanish_user_is_told_in_spanish(rules_copilot: Copilot) -> None:
    result = rules_copilot.ask("qiu.quality", "¿cómo se libera un lote retenido en Monterrey?")
    assert result.answer.startswith("La base de conocimiento (búsqueda de documentos) no está disponible")
    assert result.degraded and result.unavailable == ["search_documents"]


def test_a_plant_question_in_the_same_thread_is_not_degraded(rules_copilot: Copilot) -> None:
    first = rules_copilot.ask("quinn.quality", QUESTION)
    second = rules_copilot.ask("quinn.quality", "which lots are on quality hold at P100?", thread_id=first.thread_id)
    assert first.degraded and "search_documents" not in [c["name"] for c in second.tool_calls]
    assert not second.degraded and second.unavailable == []  # the flag belongs to the turn, not the thread


def test_another_models_answer_gets_the_notice_first(down_runtime: Runtime) -> None:
    model = ScriptedChatModel(script=[
        AIMessage(content="", tool_calls=[{"name": "search_documents", "id": "call_1",
                                           "args": {"query": "seal defect hold procedure"}}]),
        AIMessage(content="I could not look that up."),
    ])
    grant = ModelPolicy.from_policy(down_runtime.policy).approved["openai:gpt-4o-mini"]
    copilot = build_copilot(down_runtime, RuntimeOverrides(
        model=model, fallback=ScriptedChatModel(script=[AIMessage(content="fallback answer")], cycle=True),
        model_grant=grant, fallback_grant=None))
    result = copilot.ask("quinn.quality", QUESTION)
    assert result.answer == f"{KNOWLEDGE_DOWN}\n\nI could not look that up."
    assert result.degraded and result.unavailable == ["search_documents"]
    told = json.loads(str(model.calls[1][-1].content))  # the model was told the tool is unavailable, not 'empty'
    assert told["status"] == "unavailable" and told["rule_id"] == "tool.unavailable"


def test_a_failed_search_opens_the_store_again_next_time(tmp_path: Path) -> None:
    """A store that failed mid-search (a server restarted, a collection re-made) is reopened by the next search."""
    from knowledge.documents import parse_document
    from knowledge.ingest import ingest_documents

    index = KnowledgeIndex(CountingEmbedder(), path=tmp_path / "index")
    ingest_documents(index, [parse_document(DOC, "QP-100.md")], source="test")
    scope = DocumentScope(None, frozenset({"planner"}), frozenset({"quality"}))

    class Gone:
        def count(self) -> int:
            raise ConnectionError("the server went away")

    index._collection = Gone()
    with pytest.raises(StoreUnavailable, match="the server went away"):
        index.search("red label", scope)
    assert index.search("red label", scope).documents == ("QP-100",)


def test_the_http_api_marks_the_turn_degraded(demo_home: Path, knowledge_home: Path, dead_chroma_url: str,
                                             tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app
    from tests.server.api.conftest import api_settings, auth, plant_home, sse_events

    home = plant_home(demo_home, tmp_path / "home")
    shutil.copytree(knowledge_home / "knowledge", home / "knowledge")  # present, but the server is configured
    with TestClient(create_app(api_settings(home, JIDOKA_CHROMA_URL=dead_chroma_url)),
                    raise_server_exceptions=False) as client:
        turn = client.post("/v1/chat", json={"message": QUESTION},
                           headers={**auth("quinn.quality"), "Accept": "application/json"})
        assert turn.status_code == 200
        body = turn.json()
        assert body["answer"] == KNOWLEDGE_DOWN and body["degraded"] is True
        assert body["unavailable"] == ["search_documents"]
        stream = client.post("/v1/chat", json={"message": QUESTION}, headers=auth("quinn.quality"))
        assert stream.status_code == 200
        done = sse_events(stream.text)[-1]
        assert done[0] == "done" and done[1]["degraded"] is True and done[1]["unavailable"] == ["search_documents"]
        metrics = client.get("/metrics").text
        assert "jidoka_degraded_turns_total 2.0" in metrics
