"""``jidoka approvals approve`` resumes the paused thread (the action executes); ``undo`` is governed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from agent.scripted import ScriptedChatModel
from server.cli import build_app
from tests.agent.action_cases import ledger_rows, p100_cases, rows, snapshot
from tests.agent.graph_helpers import Clock, build_action_copilot, call, copy_plant


def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_approve_resumes_the_thread_and_undo_is_governed(demo_home: Path, demo_manifest: dict[str, Any],
                                                         tmp_path: Path) -> None:
    home = tmp_path / "home"
    plant_file = copy_plant(demo_home, home)  # $JIDOKA_HOME/plant.db; the state lives beside it
    model = ScriptedChatModel(script=[AIMessage(content="")])
    # The CLI decides on the wall clock, so the request is made on it too.
    h = build_action_copilot(plant_file, home, model, clock=Clock(datetime.now(UTC)))
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    model.script[:] = [call("place_quality_hold", p100_cases(h.plant, demo_manifest["scenarios"]["scrap_spike"])[
        "place_quality_hold"], "c1")]
    before = snapshot(h.plant)
    rid = h.copilot.ask("sam.supervisor", "Hold the suspect lot.").approvals[0]["id"]
    env = {"JIDOKA_HOME": str(home), "JIDOKA_MODEL": "rules"}

    code, out, err = _run(env, "approvals", "approve", rid, "--as", "quinn.quality", "--comment", "confirmed")

    assert code == 0, err
    assert f"quinn.quality approved {rid}" in out and f"{rid} place_quality_hold: executed" in out
    assert rows(h.plant, "SELECT status FROM lots WHERE lot_id = :l", l=lot) == [{"status": "quality_hold"}]
    assert len(ledger_rows(h.plant)) == 1 and h.store.get(rid).status.value == "executed"

    code, _, err = _run(env, "approvals", "undo", rid, "--as", "pat.planner")
    assert code == 1 and "may not undo" in err and snapshot(h.plant) != before
    code, out, err = _run(env, "approvals", "undo", rid, "--as", "quinn.quality")
    assert code == 0, err
    assert f"quinn.quality undid {rid}" in out and snapshot(h.plant) == before
    code, out, _ = _run(env, "audit", "verify")
    assert code == 0, out
