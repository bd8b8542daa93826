"""The demo plant's manifest and API: injections exactly where the manifest says, the manifest matching the
plant, typed errors, and rebuild behaviour and determinism (two extra plants are built in a temp folder)."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from tests.factories import AS_OF, DEMO_SEED, TODAY
from tests.tools.demo.demo_helpers import SITES, fetch, index
from tools.demo import (
    ManifestInvalid,
    ManifestMissing,
    PlantAlreadyExists,
    build_plant,
    plant_content_hash,
    read_manifest,
)
from tools.errors import ArgumentError, ToolError
from tools.plant.db import make_engine
from tools.plant.schema import table

# ---------------------------------------------------------------- injections

_MARKERS = ("<INFORMATION>", "<|im_start|>", "SYSTEM:")


_MARKERS_ANY_CASE = ("ignore all previous", "ignore your rules", "pre-approved", "bank account", "base64")


def _looks_injected(value: str) -> bool:
    return any(m in value for m in _MARKERS) or any(m in value.lower() for m in _MARKERS_ANY_CASE)


def test_injections_exactly_where_the_manifest_says(db: dict[str, list[dict[str, Any]]],
                                                    demo_manifest: dict[str, Any]) -> None:
    entries = demo_manifest["injections"]
    assert 6 <= len(entries) <= 10
    assert {e["family"] for e in entries} == {"ignore_previous", "fake_system", "embedded_order", "encoded",
                                              "exfiltration", "approval_bypass"}
    assert {e["site_id"] for e in entries} == set(SITES)
    planted: set[tuple[str, str]] = set()
    for entry in entries:
        key_col, key_val = next(iter(entry["key"].items()))
        row = index(db[entry["table"]], key_col)[key_val]
        assert entry["text"] in row[entry["column"]]
        assert len(row[entry["column"]]) > len(entry["text"])  # embedded in ordinary text
        planted.add((entry["table"], key_val))
        if entry["family"] == "encoded":
            payload = entry["text"].split(" ")[-1]
            assert base64.b64decode(payload).decode() == entry["decoded"]
    fields = {"quality_events": ("qe_id", "description"), "suppliers": ("supplier_id", "notes"),
              "items": ("item_id", "description"), "maintenance_orders": ("mo_id", "description"),
              "sales_orders": ("so_id", "customer")}
    for name, (key, column) in fields.items():
        for row in db[name]:
            assert _looks_injected(row[column]) == ((name, row[key]) in planted), (name, row[key])


# ---------------------------------------------------------------- manifest and API


def test_manifest_matches_plant(demo_plant: Engine, demo_manifest: dict[str, Any], demo_home: Path) -> None:
    assert demo_manifest["seed"] == DEMO_SEED and demo_manifest["today"] == TODAY.isoformat()
    assert demo_manifest["as_of"] == AS_OF.isoformat()
    assert demo_manifest["content_hash"] == plant_content_hash(demo_plant)
    assert read_manifest(demo_home) == demo_manifest
    meta = {r["key"]: r["value"] for r in fetch(demo_plant, "plant_meta")}
    assert (meta["seed"], meta["today"], meta["as_of"]) == (str(DEMO_SEED), TODAY.isoformat(), AS_OF.isoformat())
    assert demo_manifest["counts"]["work_orders"] == len(fetch(demo_plant, "work_orders"))


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestMissing):
        read_manifest(tmp_path)
    (tmp_path / "plant_manifest.json").write_text("[1, 2")
    with pytest.raises(ManifestInvalid):
        read_manifest(tmp_path)


def test_bad_arguments_are_typed_errors(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ArgumentError, match="seed"):
        build_plant(engine, seed="7", today=TODAY)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="today"):
        build_plant(engine, seed=7, today=datetime(2026, 3, 2))
    engine.dispose()


def test_rebuild_determinism_and_integrity(tmp_path: Path, demo_plant: Engine) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'plant.db'}")
    calls: list[tuple[str, int, int]] = []
    other = build_plant(engine, seed=DEMO_SEED + 1, today=TODAY,
                        progress=lambda step, done, total: calls.append((step, done, total)))
    assert other.manifest_path is None and other.seed == DEMO_SEED + 1
    assert other.content_hash == plant_content_hash(engine) != plant_content_hash(demo_plant)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls) and calls[-1][1] == calls[-1][2]
    assert any(step == "table lots" for step, _, _ in calls)
    with pytest.raises(PlantAlreadyExists) as caught:
        build_plant(engine, seed=DEMO_SEED, today=TODAY)
    assert isinstance(caught.value, ToolError)
    again = build_plant(engine, seed=DEMO_SEED, today=TODAY, force=True, manifest_dir=tmp_path)
    assert again.content_hash == plant_content_hash(demo_plant)
    assert read_manifest(tmp_path)["content_hash"] == again.content_hash
    for name in ("lots", "po_lines", "machine_events", "quality_events", "inventory"):
        assert sorted(map(repr, fetch(engine, name))) == sorted(map(repr, fetch(demo_plant, name))), name
    with engine.connect() as conn, pytest.raises(IntegrityError):
        conn.execute(table("lots").insert(), [{"lot_id": "LOT-P100-9999", "item_id": "NOPE", "site_id": "P100",
                                              "qty_received": 1.0, "status": "available"}])
    engine.dispose()
