"""``jidoka monitor``: a run, the signals a user sees, responses with reasons, and a decision on a signal's request
executing it from the approvals CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.server.cli.cli_helpers import run_cli


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    target = tmp_path / "home"
    target.mkdir()
    shutil.copy(demo_home / "plant.db", target / "plant.db")
    shutil.copy(demo_home / "plant_manifest.json", target / "plant_manifest.json")
    return target


def test_run_signals_respond_and_approve(home: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], demo_manifest: dict[str, Any]) -> None:
    code, out, err = run_cli(["monitor", "run", "--json"], home, monkeypatch, capsys)
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "completed" and run["opened"] and not run["errors"]
    code, out, _ = run_cli(["monitor", "signals", "--as", "quinn.quality", "--json"], home, monkeypatch, capsys)
    signals = json.loads(out)["signals"]
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    spike = next(s for s in signals if s["figures"].get("lot_id") == lot)
    code, out, _ = run_cli(["monitor", "signals", "--as", "quinn.quality"], home, monkeypatch, capsys)
    assert spike["signal_id"] in out and "scrap_spike" in out
    code, out, err = run_cli(["monitor", "ack", spike["signal_id"], "--as", "qiu.quality", "--reason", "not mine"],
                             home, monkeypatch, capsys)
    assert code == 1 and "no signal" in err and "audited" in err  # another site's signal reads as missing
    code, _, missing = run_cli(["monitor", "show", "SIG-FFFFFFFFFF", "--as", "qiu.quality"], home, monkeypatch, capsys)
    assert code == 1 and missing.split(" (audited")[0].replace("SIG-FFFFFFFFFF", "ID") == \
        err.split(" (audited")[0].replace(spike["signal_id"], "ID")
    code, out, err = run_cli(["monitor", "dismiss", spike["signal_id"], "--as", "quinn.quality", "--reason", "x"],
                             home, monkeypatch, capsys)
    assert code == 1 and "signals.reason" in err and "audited: jidoka audit show --trace" in err
    request_id = spike["proposals"][0]["request_id"]
    code, out, err = run_cli(["approvals", "approve", request_id, "--as", "quinn.quality", "--comment", "hold it"],
                             home, monkeypatch, capsys)
    assert code == 0, err
    assert f"{request_id} (place_quality_hold): executed" in out
    code, out, _ = run_cli(["monitor", "show", spike["signal_id"], "--as", "quinn.quality"], home, monkeypatch, capsys)
    shown = json.loads(out)
    assert shown["status"] == "actioned" and shown["proposals"][1]["action"] == "open_supplier_review"
    code, out, err = run_cli(["monitor", "override", spike["signal_id"], "--as", "quinn.quality", "--reason",
                              "supplier already under review"], home, monkeypatch, capsys)
    assert code == 0, err
    assert "overridden" in out
    review = shown["proposals"][1]["request_id"]
    code, out, _ = run_cli(["approvals", "show", review, "--as", "quinn.quality", "--json"], home, monkeypatch,
                           capsys)
    assert json.loads(out)["status"] == "rejected"  # the override declined the pending review
    code, out, _ = run_cli(["audit", "verify"], home, monkeypatch, capsys)
    assert code == 0
