"""Run in a second process by test_graph: continue a thread from the first process's checkpoints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.scripted import ScriptedChatModel
from tests.agent.graph_helpers import build_copilot
from tools import make_engine


def main() -> None:
    plant_db, home, thread_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    seen: dict[str, object] = {}

    def step(messages: list[BaseMessage]) -> AIMessage:
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        seen.update(humans=len(humans), first=humans[0].content)
        return AIMessage(content="continued")

    copilot, _ = build_copilot(make_engine(f"sqlite:///{plant_db}"), home, ScriptedChatModel(script=[step]))
    copilot.ask("pat.planner", "and now?", thread_id=thread_id)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
