"""The process dies between approval and execution: another process resumes the thread and it executes once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.scripted import ScriptedChatModel
from guardrails.audit.log import AuditKind
from tests.agent.action_cases import ledger_rows, p100_cases, snapshot
from tests.agent.graph_helpers import build_action_copilot, call, copy_plant

ROOT = Path(__file__).parents[2]


def _child(plant_file: Path, home: Path, request_id: str, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(Path(__file__).with_name("_approval_child.py")), str(plant_file),
                           str(home), request_id, mode], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("mode", ["kill_before_execute", "kill_after_execute"])
def test_killed_between_approval_and_execution_then_resumed_elsewhere(
        mode: str, demo_home: Path, demo_manifest: dict[str, Any], tmp_path: Path) -> None:
    plant_file = copy_plant(demo_home, tmp_path)
    home = tmp_path / "state"
    home.mkdir()
    model = ScriptedChatModel(script=[AIMessage(content="")])
    h = build_action_copilot(plant_file, home, model)
    args = p100_cases(h.plant, demo_manifest["scenarios"]["scrap_spike"])["place_quality_hold"]
    model.script[:] = [call("place_quality_hold", args, "c1"), AIMessage(content="resumed")]
    before = snapshot(h.plant)
    rid = h.copilot.ask("sam.supervisor", "Hold the lot.").approvals[0]["id"]
    h.decide(rid, "quinn.quality")

    crashed = _child(plant_file, home, rid, mode)

    assert crashed.returncode == -9, crashed.stderr
    assert h.store.get(rid).status.value == "approved"  # never marked: the process died first
    assert [e.kind for e in h.audit.export()].count(AuditKind.ACTION_EXECUTED) == 0
    if mode == "kill_before_execute":
        assert snapshot(h.plant) == before and ledger_rows(h.plant) == []
    else:
        assert snapshot(h.plant) != before and len(ledger_rows(h.plant)) == 1
    after_one = snapshot(h.plant)

    # This (test) process is the one that survives: it resumes from the checkpoint the dead one left.
    result = h.copilot.resume(rid).to_json()

    assert result["approvals"] == [{"id": rid, "action": "place_quality_hold", "status": "executed"}]
    assert result["answer"] == "resumed" and not result["paused"]
    assert [r["idempotency_key"] for r in ledger_rows(h.plant)] == [f"place_quality_hold:{rid}"]
    if mode == "kill_after_execute":
        assert snapshot(h.plant) == after_one  # the ledger replayed the committed execution: nothing applied twice
    executed = [e for e in h.audit.export() if e.kind == AuditKind.ACTION_EXECUTED]
    assert len(executed) == 1 and executed[0].payload["replayed"] is (mode == "kill_after_execute")
    assert h.store.get(rid).status.value == "executed"
    # And once more from this process: the thread no longer waits, nothing runs again.
    assert "Nothing to resume" in h.copilot.resume(rid).answer and len(ledger_rows(h.plant)) == 1
    assert h.audit.verify().ok
