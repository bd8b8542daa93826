"""Run in other processes by test_shared_engines: continue a thread, or approve and resume a request, on the
databases the parent names (SQLite files or Postgres), as another worker of a scaled-out server would.

``argv``: mode, plant URL, state URL, home, then ``continue THREAD`` or ``approve REQUEST APPROVER START_AT``
(a wall-clock time both approving processes wait for, so they decide at the same moment).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.scripted import ScriptedChatModel
from guardrails.errors import ApprovalError
from tests.agent.graph_helpers import build_action_copilot, build_copilot
from tools import make_engine


def _continue(plant_url: str, state_url: str, home: Path, thread_id: str) -> dict[str, object]:
    seen: dict[str, object] = {}

    def step(messages: list[BaseMessage]) -> AIMessage:
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        seen.update(humans=len(humans), first=humans[0].content)
        return AIMessage(content="continued")

    copilot, _ = build_copilot(make_engine(plant_url), home, ScriptedChatModel(script=[step]), state_url=state_url)
    copilot.ask("pat.planner", "and now?", thread_id=thread_id)
    return seen


def _approve(plant_url: str, state_url: str, home: Path, request_id: str, approver: str,
             start_at: float) -> dict[str, object]:
    harness = build_action_copilot(plant_url, home, ScriptedChatModel(script=[AIMessage(content="resumed")],
                                                                      cycle=True), state_url=state_url)
    time.sleep(max(0.0, start_at - time.time()))
    out: dict[str, object] = {"approver": approver}
    try:
        harness.decide(request_id, approver)
        out["decided"] = "ok"
    except ApprovalError as exc:
        out["decided"] = type(exc).__name__
    out["resume"] = harness.copilot.resume(request_id).to_json()["approvals"]
    return out


def main() -> None:
    mode, plant_url, state_url, home = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    if mode == "continue":
        print(json.dumps(_continue(plant_url, state_url, home, sys.argv[5])))
    else:
        print(json.dumps(_approve(plant_url, state_url, home, sys.argv[5], sys.argv[6], float(sys.argv[7]))))


if __name__ == "__main__":
    main()
