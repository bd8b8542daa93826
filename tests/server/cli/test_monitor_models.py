"""``jidoka monitor models``: drift rates from the audit log against the policy's thresholds, exit 1 on an alert."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from guardrails.policy.loader import default_policy_dir
from tests.server.cli.cli_helpers import run_cli


def test_rates_and_an_alert_after_a_refused_call(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    folder = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), folder)
    plant = folder / "plants" / "P100.yaml"
    data = yaml.safe_load(plant.read_text())
    data["models"] = {"drift": {"min_turns": 2, "max_refusal_rate": 0.1}}
    plant.write_text(yaml.safe_dump(data, allow_unicode=True))
    env = {"JIDOKA_POLICY_DIR": str(folder)}

    code, out, err = run_cli(["monitor", "models"], home, monkeypatch, capsys, **env)
    assert code == 0 and "no model turns in the audit log yet" in out, err

    for question in ("stock of RM-3001 at P100", "stock of RM-3001 at P200"):  # pat sees P100 only: one refused
        assert run_cli(["ask", "--as", "pat.planner", question], home, monkeypatch, capsys, **env)[0] == 0
    code, out, _ = run_cli(["monitor", "models", "--json"], home, monkeypatch, capsys, **env)
    report = json.loads(out)
    assert code == 1
    assert report["models"] == [{"model": "rules", "turns": 2,
                                 "rates": {"fallback": 0.0, "refusal": 0.5, "correction": 0.0}}]
    assert report["alerts"] == [{"model": "rules", "measure": "refusal", "rate": 0.5, "threshold": 0.1, "turns": 2,
                                 "policy_file": "plants/P100.yaml"}]
    code, out, _ = run_cli(["monitor", "models"], home, monkeypatch, capsys, **env)
    assert code == 1 and "drift alert" in out and "refusal rate 50.0% over its last 2 turns" in out
