"""The demo plant the benchmarks run on: built once per run (seed 7), copied into each section's home."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

__all__ = ["DEMO_SEED", "demo_home", "demo_plant_url"]

DEMO_SEED = 7
"""The seed of the demo plant the tests and the accuracy set are written against."""


def _build(root: Path, today: date) -> Path:
    """The plant database under ``root`` (built on first use; a run's sections share it)."""
    from tools import make_engine
    from tools.demo import build_plant

    folder = root / "_plant"
    database = folder / "plant.db"
    if not database.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        engine = make_engine(f"sqlite:///{database}")
        try:
            build_plant(engine, seed=DEMO_SEED, today=today, manifest_dir=folder)
        finally:
            engine.dispose()
    return folder


def demo_home(section_tmp: Path, today: date) -> Path:
    """A JIDOKA_HOME under ``section_tmp`` holding a copy of the run's demo plant (and its manifest).

    ``today`` is the plant's 'today' (the runtime factory's, so the plant and the runtimes on it agree); the
    first section to ask builds the plant with it."""
    source = _build(section_tmp.parent, today)
    home = section_tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        shutil.copy2(path, home / path.name)
    return home


def demo_plant_url(section_tmp: Path, today: date) -> str:
    """SQLAlchemy URL of a private copy of the run's demo plant (see :func:`demo_home`)."""
    return f"sqlite:///{demo_home(section_tmp, today) / 'plant.db'}"
