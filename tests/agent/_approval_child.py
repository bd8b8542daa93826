"""Run in a separate process by test_approvals_restart: resume a paused thread, optionally killed mid-way.

``argv``: plant file, state home, request id, mode — ``kill_before_execute`` (SIGKILL as the approved action
is about to run), ``kill_after_execute`` (SIGKILL right after its transaction committed, before the request
is marked executed and before any audit event or checkpoint is written) or ``resume`` (run to the end and
print the turn as JSON).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from agent.scripted import ScriptedChatModel
from tests.agent.graph_helpers import build_action_copilot
from tools.actions import spec as action_spec


def main() -> None:
    plant_file, home, request_id, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    real = action_spec._runner.execute

    def killed(*args: Any, **kwargs: Any) -> Any:
        if mode == "kill_after_execute":
            real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    if mode != "resume":
        action_spec._runner.execute = killed
    harness = build_action_copilot(plant_file, home, ScriptedChatModel(script=[AIMessage(content="resumed")]))
    result = harness.copilot.resume(request_id)
    print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()
