"""Answer parts over the wire: the chat JSON, the SSE ``done`` event and ``jidoka ask --json`` carry the same parts,
each user's in their own scope (the rules model answers; the plant is a private copy of the demo plant)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.server.api.conftest import auth, plant_home, sse_events
from tests.server.cli.cli_helpers import run_cli

LIST = "which items are below their reorder point at P100?"
ANY_SITE = "which items are below their reorder point?"


def _json_turn(client: TestClient, user: str, question: str) -> dict[str, Any]:
    response = client.post("/v1/chat", json={"message": question},
                           headers={**auth(user), "Accept": "application/json"})
    assert response.status_code == 200, response.text
    turn: dict[str, Any] = response.json()
    return turn


def _table(parts: list[dict[str, Any]]) -> dict[str, Any]:
    tables = [p for p in parts if p["type"] == "table"]
    assert len(tables) == 1, parts
    return tables[0]


def test_a_list_answer_carries_a_table_in_json_and_in_the_streams_done_event(client: TestClient) -> None:
    turn = _json_turn(client, "pat.planner", LIST)
    table = _table(turn["parts"])
    assert table["tool"] == "items_below_reorder" and table["record_column"] == "item_id"
    keys = [c["key"] for c in table["columns"]]
    assert {c["kind"] for c in table["columns"]} <= {"text", "number", "date"} and "available" in keys
    sites = {row["cells"][keys.index("site_id")] for row in table["rows"]}
    assert sites == {"P100"} and table["rows"]
    assert all(row["record_id"] == row["cells"][keys.index("item_id")] for row in table["rows"])
    assert len(table["rows"]) <= table["total_rows"]

    streamed = client.post("/v1/chat", json={"message": LIST}, headers=auth("pat.planner"))
    done = [data for name, data in sse_events(streamed.text) if name == "done"]
    assert len(done) == 1 and done[0]["parts"] == turn["parts"]


def test_each_user_gets_parts_of_their_own_sites(client: TestClient) -> None:
    sites = {}
    for user in ("pat.planner", "paz.planner"):
        table = _table(_json_turn(client, user, ANY_SITE)["parts"])
        keys = [c["key"] for c in table["columns"]]
        sites[user] = {row["cells"][keys.index("site_id")] for row in table["rows"]}
    assert sites == {"pat.planner": {"P100"}, "paz.planner": {"P200"}}


def test_ask_json_prints_the_same_parts(client: TestClient, demo_home: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = plant_home(demo_home, tmp_path / "home")
    code, out, err = run_cli(["ask", "--as", "pat.planner", LIST, "--json"], home, monkeypatch, capsys,
                             JIDOKA_MODEL="rules")
    assert code == 0, err
    printed = json.loads(out)
    assert printed["parts"] == _json_turn(client, "pat.planner", LIST)["parts"]
    assert _table(printed["parts"])["rows"]
