"""``jidoka init --no-scenarios`` builds a clean plant: nothing planted, no detector fires."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.server.cli.cli_helpers import run_cli
from tests.tools.monitoring.monitoring_helpers import TODAY, all_findings
from tools import make_engine


def test_init_no_scenarios_builds_a_clean_plant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    data = tmp_path / "plant.db"
    code, out, err = run_cli(["init", "--no-knowledge", "--no-scenarios", "--seed", "7"], home, monkeypatch,
                             capsys, JIDOKA_DATA_URL=f"sqlite:///{data}", JIDOKA_TODAY=TODAY.isoformat())
    assert code == 0, err
    assert "no planted scenarios" in out
    manifest = json.loads((home / "plant_manifest.json").read_text())
    assert manifest["scenarios_planted"] is False and manifest["scenarios"] == {} and manifest["seed"] == 7
    engine = make_engine(f"sqlite:///{data}")
    try:
        assert all_findings(engine) == []
    finally:
        engine.dispose()
