"""Building demo plants for the monitoring tests: full (planted scenarios) and clean, per seed."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tools import make_engine
from tools.demo import build_plant
from tools.monitoring import DEFAULT_PARAMS, DETECTOR_KINDS, Finding, run_detector

__all__ = ["AS_OF", "SEEDS", "SITES", "TODAY", "Plant", "all_findings", "build"]

TODAY = date(2026, 3, 2)
AS_OF = datetime.combine(TODAY, time(6, 0))
SEEDS = (42, 7, 2024)
SITES = ("P100", "P200")


class Plant:
    """A built plant: its engine and manifest."""

    def __init__(self, engine: Engine, manifest: dict[str, Any]) -> None:
        self.engine = engine
        self.manifest = manifest


def build(folder: Path, seed: int, scenarios: bool) -> Plant:
    """Build the plant of ``seed`` into ``folder`` (SQLite) and read its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{folder / 'plant.db'}")
    build_plant(engine, seed=seed, today=TODAY, manifest_dir=folder, scenarios=scenarios)
    return Plant(engine, json.loads((folder / "plant_manifest.json").read_text()))


def all_findings(engine: Engine) -> list[Finding]:
    """Every detector at its default parameters, at every site."""
    with engine.connect() as conn:
        return [f for kind in DETECTOR_KINDS for site in SITES
                for f in run_detector(conn, kind, site_id=site, params=DEFAULT_PARAMS[kind], as_of=AS_OF,
                                      today=TODAY)]
