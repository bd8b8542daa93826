"""Over a real socket (uvicorn), a chat stream sends each ``tool_call`` event while the turn still runs.

The turn is the real one (rules model, gate, tools); the test holds it after its first call is decided, reads the
call's event from the stream, then lets it finish: the rest follows, no call is sent twice."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.app import create_app
from tests.server.api.conftest import api_settings, auth, plant_home
from tests.server.browser._live import live_server

pytestmark = pytest.mark.slow

QUESTION = "which items are below their reorder point at P100?"


def test_tool_calls_stream_while_the_turn_runs(demo_home: Path, tmp_path: Path) -> None:
    app = create_app(api_settings(plant_home(demo_home, tmp_path / "home")))
    release = threading.Event()
    finished = threading.Event()
    with live_server(app) as base:
        copilot = app.state.services.copilot
        real_ask = copilot.ask

        def held_ask(*args: Any, on_tool_call: Any = None, **kwargs: Any) -> Any:
            def hold(call: dict[str, Any]) -> None:
                on_tool_call(call)
                release.wait(20)  # the turn stays in its tools step until the test has read the event

            try:
                return real_ask(*args, on_tool_call=hold if on_tool_call else None, **kwargs)
            finally:
                finished.set()

        copilot.ask = held_ask
        events: list[tuple[str, dict[str, Any]]] = []
        with httpx.Client(base_url=base, timeout=30) as client, client.stream(
                "POST", "/v1/chat", json={"message": QUESTION}, headers=auth("pat.planner")) as response:
            assert response.status_code == 200
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
                    if name == "tool_call" and not release.is_set():
                        assert not finished.is_set()  # the event came while the turn was held
                        release.set()
    names = [n for n, _ in events]
    assert names[0] == "tool_call" and names.count("tool_call") == 1 and names[-1] == "done"
    assert events[0][1] == {"name": "items_below_reorder", "decision": "allow",
                            "rule_id": "enterprise.yaml#roles.planner.domains"}
    assert finished.is_set() and "token" in names
