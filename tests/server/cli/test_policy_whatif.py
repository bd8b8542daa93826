"""``jidoka policy whatif``: an audit recorded by real governed turns (rules model) and governed tool calls, replayed
under drafts that tighten the policy — the report names exactly the decisions that flip."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guardrails.audit.log import AuditKind, AuditLog
from guardrails.whatif import load_draft
from server.runtime import build_copilot, build_runtime
from server.settings import Settings
from tests.server.cli.cli_helpers import run_cli
from tests.server.cli.whatif_helpers import gate_decisions, shipped_draft
from tools import default_catalog
from tools.plant.db import make_engine

HOLD = "put lot LOT-P100-0404 on quality hold with its open work orders, seal failures"


@pytest.fixture(scope="module")
def recorded(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A home whose audit holds two batches of governed calls, and the time between them."""
    home = tmp_path_factory.mktemp("whatif-home")
    shutil.copy(demo_home / "plant.db", home / "plant.db")
    runtime = build_runtime(Settings.from_env({"JIDOKA_HOME": str(home), "JIDOKA_MODEL": "rules"}))
    try:
        copilot = build_copilot(runtime)
        copilot.ask("pat.planner", "which items are below their reorder point at P100?")
        copilot.ask("quinn.quality", "why is scrap up on packaging line 1 at Aurora?")
        hold = copilot.ask("sam.supervisor", HOLD)
        for user in ("pat.planner", "bea.buyer"):  # the governed path of `jidoka tools run`
            trace = runtime.trace(user)
            with runtime.audit.buffer() as buffer:
                runtime.tools.call(runtime.policy.user(user), "inventory_lookup", {"site_id": "P200"}, trace=trace,
                                   audit=buffer)
        cutoff = runtime.audit.now()
        copilot.ask("bea.buyer", "which POs are late at P200?")
    finally:
        runtime.close()
    yield {"home": home, "cutoff": cutoff, "hold": hold.approvals[0]["id"]}


def _log(home: Path) -> AuditLog:
    return AuditLog(make_engine(f"sqlite:///{home / 'state.db'}"))


def _whatif(recorded: dict[str, Any], draft: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code, out, err = run_cli(["policy", "whatif", str(draft), "--json", *extra], recorded["home"], monkeypatch, capsys,
                             unset=("JIDOKA_POLICY_DIR",))
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def _seqs(log: AuditLog, user: str, tool: str) -> set[int]:
    return {r.seq for r in gate_decisions(log) if r.user_id == user and r.payload["tool"] == tool}


def test_the_recorded_audit_holds_what_the_drafts_flip(recorded: dict[str, Any]) -> None:
    decisions = gate_decisions(_log(recorded["home"]))
    effects = {(r.user_id, r.payload["tool"], r.payload["effect"]) for r in decisions}
    assert ("quinn.quality", "machine_parameter_drift", "allow") in effects
    assert ("pat.planner", "inventory_lookup", "deny") in effects
    assert ("bea.buyer", "inventory_lookup", "allow") in effects
    assert ("sam.supervisor", "place_quality_hold", "needs_approval") in effects
    assert ("bea.buyer", "open_po_lines", "allow") in effects


def test_an_unchanged_draft_changes_nothing(recorded: dict[str, Any], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    report = _whatif(recorded, shipped_draft(tmp_path / "draft"), monkeypatch, capsys)
    summary = report["summary"]
    replayed = len(gate_decisions(_log(recorded["home"])))
    assert summary["replayed"] == replayed > 5
    assert summary["unchanged"] == replayed
    assert (summary["changed"], summary["scope_changed"], summary["route_changed"]) == (0, 0, 0)
    assert report["changes"] == [] and report["route_changes"] == []


def test_a_role_losing_a_tool_flips_exactly_its_calls(recorded: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    draft = shipped_draft(tmp_path / "draft", plants__P100="layer: plant\nsite: P100\nroles:\n  quality_engineer:\n"
                                                           "    deny_tools: [machine_parameter_drift]\n")
    report = _whatif(recorded, draft, monkeypatch, capsys)
    expected = _seqs(_log(recorded["home"]), "quinn.quality", "machine_parameter_drift")
    assert expected
    assert {c["seq"] for c in report["changes"]} == expected
    for change in report["changes"]:
        assert (change["user_id"], change["tool"], change["site"]) == ("quinn.quality", "machine_parameter_drift",
                                                                       "P100")
        assert (change["old_effect"], change["new_effect"]) == ("allow", "deny")
        assert change["new_rule_id"] == "plants/P100.yaml#roles.quality_engineer.deny_tools"
        assert change["trace_id"]
    assert report["summary"]["by_rule"] == [{
        "old_rule_id": "enterprise.yaml#roles.quality_engineer.domains",
        "new_rule_id": "plants/P100.yaml#roles.quality_engineer.deny_tools", "old_effect": "allow",
        "new_effect": "deny", "change": "decision", "count": len(expected)}]
    assert report["summary"]["unchanged"] == report["summary"]["replayed"] - len(expected)


def test_a_site_denied_flips_the_calls_naming_it(recorded: dict[str, Any], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    draft = shipped_draft(tmp_path / "draft", plants__P200="layer: plant\nsite: P200\nroles:\n  buyer:\n"
                                                           "    deny_tools: [inventory_lookup, open_po_lines]\n")
    report = _whatif(recorded, draft, monkeypatch, capsys)
    log = _log(recorded["home"])
    flipped = {c["seq"]: c for c in report["changes"] if c["change"] == "decision"}
    assert set(flipped) == _seqs(log, "bea.buyer", "inventory_lookup") | _seqs(log, "bea.buyer", "open_po_lines")
    assert {(c["new_effect"], c["new_rule_id"], c["site"]) for c in flipped.values()} == {
        ("deny", "gate.scope.site", "P200")}
    # pat.planner was refused P200 already: still refused, the same way, not listed
    assert not any(c["user_id"] == "pat.planner" for c in report["changes"])


def test_a_lowered_approval_threshold_changes_the_route(recorded: dict[str, Any], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    layer = ("layer: plant\nsite: P100\nactions:\n  place_quality_hold:\n    when:\n      - value_usd_over: 1000\n"
             "        approvers:\n          - {roles: [finance], site: subject}\n")
    report = _whatif(recorded, shipped_draft(tmp_path / "draft", plants__P100=layer), monkeypatch, capsys)
    [route] = report["route_changes"]
    assert (route["user_id"], route["action"], route["site"], route["request_id"]) == (
        "sam.supervisor", "place_quality_hold", "P100", recorded["hold"])
    assert [g["roles"] for g in route["old_groups"]] == [["production_supervisor", "quality_engineer"]]
    assert [g["roles"] for g in route["new_groups"]] == [["production_supervisor", "quality_engineer"], ["finance"]]
    assert route["new_groups"][1]["rule_id"] == "plants/P100.yaml#actions.place_quality_hold.when[0].approvers[0]"
    # sam.supervisor may not see the value (items.standard_cost): what a requester is told never depends on it, so
    # the decision's rule and effect stay those of every value — only the route the approvers get differs
    assert route["new_rule_id"] == route["old_rule_id"] == "enterprise.yaml#actions.place_quality_hold.approvers"
    assert report["changes"] == []


def test_since_replays_only_the_newer_decisions(recorded: dict[str, Any], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    draft = shipped_draft(tmp_path / "draft", plants__P200="layer: plant\nsite: P200\nroles:\n  buyer:\n"
                                                           "    deny_tools: [inventory_lookup, open_po_lines]\n")
    report = _whatif(recorded, draft, monkeypatch, capsys, "--since", recorded["cutoff"])
    newer = [r for r in gate_decisions(_log(recorded["home"])) if r.ts >= recorded["cutoff"]]
    assert report["summary"]["replayed"] == len(newer) >= 1
    assert {c["seq"] for c in report["changes"]} == _seqs(_log(recorded["home"]), "bea.buyer", "open_po_lines")
    assert all(c["tool"] == "open_po_lines" for c in report["changes"])  # the P200 inventory call is older


def test_a_user_missing_from_the_draft_is_reported_not_fatal(recorded: dict[str, Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    draft = shipped_draft(tmp_path / "draft")
    enterprise = draft / "enterprise.yaml"
    enterprise.write_text("\n".join(line for line in enterprise.read_text().splitlines()
                                    if not line.strip().startswith("pat.planner:")) + "\n")
    report = _whatif(recorded, draft, monkeypatch, capsys)
    pats = {r.seq for r in gate_decisions(_log(recorded["home"])) if r.user_id == "pat.planner"}
    assert report["summary"]["missing_users"] == {"pat.planner": len(pats)}
    # pat's allowed calls flip to the refusal an unknown user gets; the one already refused keeps its effect but not
    # its rule
    assert {c["seq"] for c in report["changes"]} == pats
    assert {c["new_rule_id"] for c in report["changes"]} == {"gate.unknown_user"}


def test_a_draft_that_does_not_load_exits_2_without_a_traceback(recorded: dict[str, Any], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    draft = shipped_draft(tmp_path / "draft", plants__P100="layer: plant\nsite: P100\nroles:\n  planner:\n"
                                                           "    tools: [no_such_tool]\n")
    before = _log(recorded["home"]).count()
    code, out, err = run_cli(["policy", "whatif", str(draft)], recorded["home"], monkeypatch, capsys)
    assert code == 2
    assert "draft policy invalid" in err and "plants/P100.yaml" in err and "no_such_tool" in err
    assert "Traceback" not in err + out
    code, _, err = run_cli(["policy", "whatif", str(tmp_path / "missing")], recorded["home"], monkeypatch, capsys)
    assert code == 2 and "not a policy folder" in err
    assert _log(recorded["home"]).count() == before  # nothing replayed, nothing recorded


def test_a_run_is_recorded_once_and_changes_nothing_else(recorded: dict[str, Any], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    draft = shipped_draft(tmp_path / "draft", plants__P100="layer: plant\nsite: P100\nroles:\n  quality_engineer:\n"
                                                           "    deny_tools: [machine_parameter_drift]\n")
    log = _log(recorded["home"])
    before = list(log.export())
    plant = (recorded["home"] / "plant.db").read_bytes()
    report = _whatif(recorded, draft, monkeypatch, capsys)
    after = list(log.export())
    assert after[:len(before)] == before
    [event] = after[len(before):]
    assert event.kind == AuditKind.POLICY_WHATIF and event.trace_id == report["trace_id"]
    assert event.user_id.startswith("cli:")
    assert event.payload["draft_hash"] == load_draft(draft, default_catalog()).hash == report["draft_hash"]
    assert event.payload["changed"] == report["summary"]["changed"] > 0
    assert (recorded["home"] / "plant.db").read_bytes() == plant
    assert log.verify().ok
    again = _whatif(recorded, draft, monkeypatch, capsys)  # its own event is no decision: same report
    assert again["changes"] == report["changes"]


def test_the_table_names_the_changes(recorded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    draft = shipped_draft(tmp_path / "draft", plants__P100="layer: plant\nsite: P100\nroles:\n  quality_engineer:\n"
                                                           "    deny_tools: [machine_parameter_drift]\n")
    code, out, _ = run_cli(["policy", "whatif", str(draft)], recorded["home"], monkeypatch, capsys, COLUMNS="300")
    assert code == 0
    flipped = _seqs(_log(recorded["home"]), "quinn.quality", "machine_parameter_drift")
    assert f"{len(flipped)} would change" in out
    rows = [line for line in out.splitlines() if "machine_parameter_drift" in line and "quinn.quality" in line]
    assert len(rows) == len(flipped) and all("allow → deny" in row for row in rows)
    assert "recorded as policy_whatif in trace" in out
