"""``jidoka ask --json``: the turn as JSON, each citation with its lineage (system, table, record id, as-of)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.server.cli.cli_helpers import run_cli
from tools.plant.db import make_engine
from tools.plant.schema import table


def test_ask_json_prints_the_lineage_of_each_citation(demo_home: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(demo_home / "plant.db", home / "plant.db")
    code, out, err = run_cli(["ask", "--as", "quinn.quality", "Show open quality events at P100", "--json"], home,
                             monkeypatch, capsys, JIDOKA_MODEL="rules")
    assert code == 0, err
    turn = json.loads(out)
    assert turn["citations"] and [e["citation"] for e in turn["lineage"]] == turn["citations"]
    engine = make_engine(f"sqlite:///{home / 'plant.db'}")
    try:
        qe, meta = table("quality_events"), table("plant_meta")
        with engine.connect() as conn:
            as_of = str(conn.execute(select(meta.c.value).where(meta.c.key == "as_of")).scalar_one())
            for entry in (e for e in turn["lineage"] if e["table"] == "quality_events"):
                site = conn.execute(select(qe.c.site_id).where(qe.c.qe_id == entry["record_id"])).scalar_one()
                assert (entry["system"], entry["key"], site) == ("MES", {"qe_id": entry["citation"]}, "P100")
                assert entry["as_of"][:16] == as_of[:16] and entry["as_of_source"] == "read"
    finally:
        engine.dispose()
    assert {e["table"] for e in turn["lineage"]} >= {"quality_events", "work_orders"}
