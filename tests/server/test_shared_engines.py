"""The shared engines: SQLite and Postgres give the same governed behaviour, and state written by one process
(one worker of a scaled-out server) is read and decided by another.

The Postgres half runs on the throwaway cluster ``make test`` starts (``.ci/with-services``); it fails, never
skips, when that cluster is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.scripted import ScriptedChatModel
from guardrails.audit.log import AuditKind
from server.runtime import RuntimeOverrides, build_runtime
from server.settings import Settings
from tests.agent.action_cases import ledger_rows, p100_cases
from tests.agent.graph_helpers import build_action_copilot, build_copilot, call
from tests.policy_helpers import shipped_policy
from tools import make_engine

ROOT = Path(__file__).parents[2]
USERS = ("pat.planner", "paz.planner", "eve.exec", "bea.buyer", "quinn.quality", "max.maint")


def _child(*args: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("_engines_child.py")), *args],
                         capture_output=True, text=True, timeout=180, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def _every_tool_as_every_user(settings: Settings) -> dict[str, tuple[str, str, str]]:
    """Each user calls each read tool with its defaults through the gate: effect, rule and the scoped result."""
    runtime = build_runtime(settings, RuntimeOverrides(policy=shipped_policy(), prepare_plant=False))
    out: dict[str, tuple[str, str, str]] = {}
    try:
        for user_id in USERS:
            for spec in runtime.catalog:
                if spec.name == "search_documents":  # the knowledge index is not a database (tested elsewhere)
                    continue
                trace = runtime.trace(user_id)
                with runtime.audit.buffer() as audit:
                    user = runtime.tools.identify(user_id, trace, audit)
                    outcome = runtime.tools.call(user, spec.name, {}, trace=trace, audit=audit)
                out[f"{user_id}:{spec.name}"] = (outcome.decision.effect.value, outcome.decision.rule_id,
                                                 json.dumps(outcome.for_model(), sort_keys=True, default=str))
        assert runtime.audit.verify().ok
    finally:
        runtime.close()
    return out


@pytest.mark.parametrize("backend", ["postgres"])
def test_every_tool_decides_and_answers_on_postgres_as_on_sqlite(
        plant_url: str, state_url: str, demo_home: Path, tmp_path: Path) -> None:
    from server.schema import upgrade_state

    state = make_engine(state_url)
    upgrade_state(state, state_url)
    state.dispose()
    on_postgres = _every_tool_as_every_user(Settings.from_env(
        {"JIDOKA_HOME": str(tmp_path / "pg"), "JIDOKA_DATA_URL": plant_url, "JIDOKA_STATE_URL": state_url}))
    on_sqlite = _every_tool_as_every_user(Settings.from_env(
        {"JIDOKA_HOME": str(tmp_path / "lite"), "JIDOKA_DATA_URL": f"sqlite:///{demo_home / 'plant.db'}"}))
    assert on_postgres.keys() == on_sqlite.keys() and len(on_postgres) == len(USERS) * 23
    assert {k for k in on_postgres if on_postgres[k] != on_sqlite[k]} == set()
    effects = {v[0] for v in on_postgres.values()}
    assert {"allow", "deny"} <= effects  # the gate really refused some calls: scoping was exercised


def test_a_thread_continues_in_another_process(plant_url: str, state_url: str, tmp_path: Path) -> None:
    copilot, _ = build_copilot(make_engine(plant_url), tmp_path, ScriptedChatModel(script=[AIMessage(content="noted")]),
                               state_url=state_url)
    first = copilot.ask("pat.planner", "remember lot LOT-P100-0404")
    seen = _child("continue", plant_url, state_url, str(tmp_path), first.thread_id)
    assert seen == {"humans": 2, "first": "remember lot LOT-P100-0404"}


def test_two_processes_approving_at_once_execute_the_action_once(
        plant_url: str, state_url: str, demo_manifest: dict[str, Any], tmp_path: Path) -> None:
    model = ScriptedChatModel(script=[AIMessage(content="")])
    h = build_action_copilot(plant_url, tmp_path, model, state_url=state_url)
    args = p100_cases(h.plant, demo_manifest["scenarios"]["scrap_spike"])["place_quality_hold"]
    model.script[:] = [call("place_quality_hold", args, "c1"), AIMessage(content="asked")]
    rid = h.copilot.ask("pat.planner", "Hold the lot.").approvals[0]["id"]
    start_at = f"{time.time() + 6.0:.3f}"  # both children are built by then; they decide at the same moment
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).with_name("_engines_child.py")), "approve",
                               plant_url, state_url, str(tmp_path), rid, approver, start_at],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
             for approver in ("quinn.quality", "sam.supervisor")]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]

    assert [r["decided"] for r in results].count("ok") == 1, results  # one group, one approval: the other lost
    assert [r["idempotency_key"] for r in ledger_rows(h.plant)] == [f"place_quality_hold:{rid}"]
    executed = [e for e in h.audit.export() if e.kind == AuditKind.ACTION_EXECUTED]
    assert [e.payload["replayed"] for e in executed].count(False) == 1
    assert h.store.get(rid).status.value == "executed"
    assert h.audit.verify().ok


def test_control_characters_in_a_question_are_dropped_before_anything_is_stored(
        plant_url: str, state_url: str, tmp_path: Path) -> None:
    seen: list[str] = []

    def step(messages: list[Any]) -> AIMessage:
        seen.append(str(messages[-1].content))
        return AIMessage(content="ok")

    copilot, audit = build_copilot(make_engine(plant_url), tmp_path, ScriptedChatModel(script=[step], cycle=True),
                                   state_url=state_url)
    turn = copilot.ask("pat.planner", "stock of\x00 RM-3001\x07 please\tnow")  # Postgres cannot store NUL at all
    assert turn.answer == "ok" and seen == ["stock of RM-3001 please\tnow"]
    prompts = [e.payload for e in audit.export() if e.kind == AuditKind.PROMPT]
    assert prompts and "\\u0000" not in json.dumps(prompts) and audit.verify().ok
