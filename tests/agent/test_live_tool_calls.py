"""The copilot tells a listener each tool call while the turn runs, as soon as the gate decided it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from sqlalchemy import Engine

from agent.scripted import ScriptedChatModel
from tests.agent.graph_helpers import build_copilot, calls


def test_calls_are_heard_before_the_turn_goes_on_and_match_the_result(demo_plant: Engine, tmp_path: Path) -> None:
    heard: list[dict[str, Any]] = []
    seen_by_second_step: list[int] = []

    def answer(messages: list[BaseMessage]) -> AIMessage:
        seen_by_second_step.append(len(heard))  # the model's next step runs after the tools step
        return AIMessage(content="Done.")

    model = ScriptedChatModel(script=[
        calls(("items_below_reorder", {"site_id": "P100"}, "c1"), ("inventory_lookup", {"site_id": "P200"}, "c2")),
        answer])
    copilot, _ = build_copilot(demo_plant, tmp_path, model)
    result = copilot.ask("pat.planner", "what is short?", on_tool_call=heard.append)
    assert seen_by_second_step == [2]  # both were heard while the turn still ran
    assert heard == [{"name": c["name"], "decision": c["decision"], "rule_id": c["rule_id"]}
                     for c in result.tool_calls]
    assert [h["decision"] for h in heard] == ["allow", "deny"]


def test_a_turn_without_a_listener_runs_as_before(demo_plant: Engine, tmp_path: Path) -> None:
    model = ScriptedChatModel(script=[calls(("items_below_reorder", {"site_id": "P100"}, "c1")),
                                      AIMessage(content="Done.")])
    copilot, _ = build_copilot(demo_plant, tmp_path, model)
    assert [c["name"] for c in copilot.ask("pat.planner", "what is short?").tool_calls] == ["items_below_reorder"]
