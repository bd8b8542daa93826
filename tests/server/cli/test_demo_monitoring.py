"""``jidoka demo`` walks the seed's four monitoring scenarios on a copy of the home (the home stays unchanged)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.cli.demo_monitor import HEADINGS
from tests.server.cli.cli_helpers import run_cli
from tools import make_engine
from tools.demo.hashing import plant_content_hash


def _content(home: Path) -> str:
    engine = make_engine(f"sqlite:///{home / 'plant.db'}")
    try:
        return plant_content_hash(engine)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_demo_shows_the_four_scenarios_and_leaves_the_home_as_it_was(
        demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for name in ("plant.db", "plant_manifest.json"):
        shutil.copy(demo_home / name, home / name)
    before = _content(home)
    code, raw, _ = run_cli(["demo"], home, monkeypatch, capsys, COLUMNS="200")
    assert code == 0
    out = " ".join(raw.split())  # the console may have been sized (and wrapped) before COLUMNS was set
    for heading in HEADINGS:
        assert heading in out
    assert "NEXT SHIFT (simulated)" in out and "→ resolved: outcome improved" in out
    assert "deny [actions.precondition]" in out and "P100-AS1" in out
    assert "audit chain of the monitoring copy: intact" in out and "audit chain: intact" in out
    assert _content(home) == before  # the scenarios ran on a copy
