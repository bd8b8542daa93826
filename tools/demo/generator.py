"""Build the deterministic demo plant: generate it in memory, check it, write it, describe it.

The same seed and 'today' always give the same rows (and content hash): all
randomness comes from seeded ``random.Random`` streams, nothing reads the clock,
and every collection is iterated in a defined order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, literal, select

from tools.demo._bom import build_bom, classify_abc
from tools.demo._checks import check_plant
from tools.demo._injections import plant_injections
from tools.demo._maintenance import build_maintenance
from tools.demo._master import build_master
from tools.demo._materials import consume
from tools.demo._mes import build_mes
from tools.demo._model import Plant
from tools.demo._orders import build_purchase_orders
from tools.demo._planning import assign_statuses, plan_finished, plan_machined
from tools.demo._production import execute
from tools.demo._quality import build_quality_events
from tools.demo._rows import assign_lot_ids, render
from tools.demo._scenarios import choose, exception_manifest, plant_hold, plant_wo_gap, scenario_manifest
from tools.demo._stock import place_inventory, reorder_points, reserve, sales_orders, ship_finished
from tools.demo._supply import build_po_lines, plant_next_p100_motors
from tools.demo._vocab import load_vocab
from tools.demo.errors import PlantAlreadyExists, PlantGenerationError
from tools.demo.hashing import plant_content_hash
from tools.demo.manifest import write_manifest
from tools.errors import ArgumentError
from tools.plant.schema import metadata

__all__ = ["GENERATOR_VERSION", "PlantSummary", "Progress", "build_plant", "generate_rows"]

GENERATOR_VERSION = "1.1.0"
"""Bumped whenever the same seed would give different rows."""

Progress = Callable[[str, int, int], None]
"""``progress(step_name, done, total)``, called after each generation step and each table written."""


@dataclass(frozen=True)
class PlantSummary:
    """What :func:`build_plant` wrote."""

    counts: dict[str, int]
    """Rows per table."""
    content_hash: str
    """:func:`tools.demo.plant_content_hash` of the written plant."""
    seed: int
    """The generator seed."""
    today: date
    """The plant's 'today'."""
    manifest_path: Path | None
    """Where ``plant_manifest.json`` was written (``None`` when no directory was given)."""


def _stock_step(plant: Plant) -> None:
    ship_finished(plant)
    sales_orders(plant)
    place_inventory(plant)
    reserve(plant)
    plant_hold(plant)
    plant.rows["reorder_points"] = reorder_points(plant)
    assign_lot_ids(plant)
    classify_abc(plant)


def _steps(shortfalls: list[str]) -> list[tuple[str, Callable[[Plant], None]]]:
    def plan(plant: Plant) -> None:
        plan_finished(plant)
        build_bom(plant)
        plan_machined(plant)
        assign_statuses(plant)

    def production(plant: Plant) -> None:
        execute(plant)
        plant_wo_gap(plant)

    def materials(plant: Plant) -> None:
        shortfalls.extend(consume(plant))

    def purchasing(plant: Plant) -> None:
        build_po_lines(plant)
        build_purchase_orders(plant)
        plant_next_p100_motors(plant)

    def master(plant: Plant) -> None:
        build_master(plant)
        choose(plant)

    return [("master data", master), ("production plan", plan), ("shop floor", production),
            ("materials", materials), ("maintenance", build_maintenance), ("purchasing", purchasing),
            ("stock and sales", _stock_step), ("quality", build_quality_events), ("MES history", build_mes),
            ("injections", plant_injections)]


def generate_rows(seed: int, today: date, progress: Progress | None = None, total: int = 0, *,
                  scenarios: bool = True) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Generate the plant in memory: rows per table and the manifest (without hash and counts).

    ``scenarios=False`` plants nothing: no scrap spike or seal-temperature drift, no asset at risk, no
    reallocation shortage, no reconciliation gaps and no late or forgotten purchase supply (the buyer's
    expedite and must-order-now exceptions) — a normal, healthy plant to test monitoring against.
    """
    as_of = datetime.combine(today, time(6, 0))
    plant = Plant(seed=seed, today=today, as_of=as_of, vocab=load_vocab())
    plant.scen.planted = scenarios
    shortfalls: list[str] = []
    steps = _steps(shortfalls)
    for n, (name, step) in enumerate(steps, start=1):
        step(plant)
        if progress is not None:
            progress(name, n, total or len(steps))
    problems = check_plant(plant, shortfalls)
    if problems:
        raise PlantGenerationError(seed, problems)
    rows = render(plant)
    rows["plant_meta"] = [{"key": "seed", "value": str(seed)}, {"key": "today", "value": today.isoformat()},
                          {"key": "as_of", "value": as_of.isoformat()},
                          {"key": "generator_version", "value": GENERATOR_VERSION}]
    if not scenarios:  # recorded in the plant itself too (the default plant's rows stay as they were)
        rows["plant_meta"].append({"key": "scenarios_planted", "value": "false"})
    manifest = {"seed": seed, "today": today.isoformat(), "as_of": as_of.isoformat(),
                "generator_version": GENERATOR_VERSION, "scenarios_planted": scenarios,
                "injections": plant.injections, "scenarios": scenario_manifest(plant),
                "exceptions": exception_manifest(plant)}
    return rows, manifest


def _prepare(engine: Engine, force: bool) -> None:
    inspector = inspect(engine)
    existing = [t for t in metadata.sorted_tables if inspector.has_table(t.name)]
    with engine.connect() as conn:
        filled = [t.name for t in existing if conn.execute(select(literal(1)).select_from(t).limit(1)).first()]
    if filled and not force:
        raise PlantAlreadyExists(engine.url.render_as_string(hide_password=True), filled)
    if existing:
        metadata.drop_all(engine)
    metadata.create_all(engine)


def _validate(seed: object, today: object) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ArgumentError("build_plant", "seed", f"must be an integer, got {seed!r}")
    if not isinstance(today, date) or isinstance(today, datetime):
        raise ArgumentError("build_plant", "today", f"must be a date, got {today!r}")


def build_plant(engine: Engine, *, seed: int = 42, today: date, manifest_dir: Path | None = None,
                force: bool = False, progress: Progress | None = None, scenarios: bool = True) -> PlantSummary:
    """Create the plant schema on ``engine`` and fill it with the demo plant for ``seed`` and ``today``.

    ``scenarios=False`` builds the same kind of plant without the planted scenarios (see :func:`generate_rows`).

    Raises :class:`PlantAlreadyExists` when plant tables already hold rows, unless ``force`` (which
    drops and recreates them). Writes ``plant_manifest.json`` into ``manifest_dir`` when given.
    """
    _validate(seed, today)
    _prepare(engine, force)
    tables = metadata.sorted_tables
    generation_steps = len(_steps([]))
    total = generation_steps + len(tables) + 1
    rows, manifest = generate_rows(seed, today, progress, total, scenarios=scenarios)
    done = generation_steps
    with engine.begin() as conn:
        for table in tables:
            batch = rows.get(table.name, [])
            if batch:
                conn.execute(table.insert(), batch)
            done += 1
            if progress is not None:
                progress(f"table {table.name}", done, total)
    content_hash = plant_content_hash(engine)
    counts = {table.name: len(rows.get(table.name, [])) for table in tables}
    path = None
    if manifest_dir is not None:
        manifest.update({"content_hash": content_hash, "counts": counts})
        path = write_manifest(Path(manifest_dir), manifest)
    if progress is not None:
        progress("content hash and manifest", total, total)
    return PlantSummary(counts=counts, content_hash=content_hash, seed=seed, today=today, manifest_path=path)
