"""Recall of the planted scenarios, no findings on clean plants, stable subject keys and valid suggestions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from tests.factories import make_ctx
from tests.tools.monitoring.monitoring_helpers import AS_OF, SEEDS, SITES, TODAY, Plant, all_findings, build
from tools.actions.catalog import action_catalog
from tools.actions.maintenance import MaintenanceOrderArgs
from tools.actions.purchasing import PoDateChangeArgs
from tools.actions.quality_hold import PlaceQualityHoldArgs
from tools.actions.reallocation import ReallocateInventoryArgs
from tools.errors import ArgumentError, UnknownDetector
from tools.monitoring import DEFAULT_PARAMS, DETECTOR_KINDS, Finding, run_detector

ARGS_MODELS: dict[str, type[BaseModel]] = {
    "place_quality_hold": PlaceQualityHoldArgs, "create_maintenance_order": MaintenanceOrderArgs,
    "request_po_date_change": PoDateChangeArgs, "reallocate_inventory": ReallocateInventoryArgs,
}


@pytest.fixture(scope="module", params=SEEDS)
def full(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    plant = build(tmp_path_factory.mktemp(f"full-{request.param}"), request.param, scenarios=True)
    yield plant
    plant.engine.dispose()


@pytest.fixture(scope="module", params=SEEDS)
def clean(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    plant = build(tmp_path_factory.mktemp(f"clean-{request.param}"), request.param, scenarios=False)
    yield plant
    plant.engine.dispose()


def _by_key(findings: list[Finding]) -> dict[str, Finding]:
    return {f.subject_key: f for f in findings}


def test_detector_kinds_and_defaults() -> None:
    assert DETECTOR_KINDS == ("scrap_spike", "parameter_drift", "asset_risk", "cross_system",
                              "late_po_starves_wo", "stock_below_zero")
    assert set(DEFAULT_PARAMS) == set(DETECTOR_KINDS)
    assert DEFAULT_PARAMS["scrap_spike"]["variance_limit"] == 0.05
    assert DEFAULT_PARAMS["asset_risk"]["failure_probability"] == 0.6


def test_every_planted_scenario_is_found(full: Plant) -> None:
    scen = full.manifest["scenarios"]
    assert full.manifest["scenarios_planted"] is True
    found = _by_key(all_findings(full.engine))
    spike = scen["scrap_spike"]
    line = found[f"scrap_spike:{spike['line_id']}"]
    assert line.site_id == "P100" and line.record_ids[0] == spike["line_id"]
    lot = found[f"scrap_spike:{spike['line_id']}:{spike['lot_id']}"]
    assert lot.record_ids[:2] == (spike["lot_id"], spike["line_id"])
    assert set(lot.record_ids[2:]) <= set(spike["work_order_ids"])
    assert lot.suggested is not None and lot.suggested.action == "place_quality_hold"
    assert lot.suggested.args["lot_id"] == spike["lot_id"]
    assert [k for k in found if k.startswith("scrap_spike:")] == [line.subject_key, lot.subject_key]
    drift = found[f"parameter_drift:{spike['machine_id']}:{spike['parameter']}"]
    assert drift.record_ids[0] == spike["machine_id"] and drift.figures["share_out_of_tolerance"] > 0.25
    risk = scen["asset_risk"]
    asset = found[f"asset_risk:{risk['asset_id']}"]
    assert asset.record_ids[:2] == (risk["asset_id"], risk["machine_id"])
    assert asset.figures["failure_probability"] == risk["failure_probability"] and asset.severity == "high"
    assert asset.suggested is not None and asset.suggested.args["asset_id"] == risk["asset_id"]
    for d in scen["reconciliation"]["disagreements"]:
        f = found[f"cross_system:{d['kind']}:{d['record_ids'][0]}"]
        assert list(f.record_ids) == d["record_ids"]
    realloc = scen["reallocation"]
    short = found[f"stock_below_zero:{realloc['short_site']}:{realloc['item_id']}"]
    assert short.suggested is not None and short.suggested.action == "reallocate_inventory"
    assert (short.suggested.args["from_site_id"], short.suggested.args["to_site_id"]) == (
        realloc["surplus_site"], realloc["short_site"])
    assert short.figures["shortage_qty"] == realloc["short_qty"]
    # what P100 can spare above its reorder minimum once its line is served, not P200's whole shortage:
    # a move the constrained line's guard lets go
    assert 0 < short.suggested.args["qty"] <= realloc["margin_qty"] < realloc["short_qty"]
    check = action_catalog().get("reallocate_inventory").precondition(make_ctx(full.engine), dict(short.suggested.args))
    assert check.ok, check.reason
    late = [f for f in found.values() if f.detector == "late_po_starves_wo"
            and f.figures["item_id"] == realloc["item_id"] and f.site_id == realloc["short_site"]]
    assert len(late) == 1 and late[0].suggested is not None
    assert late[0].suggested.action == "request_po_date_change"


def test_clean_plant_gives_no_finding(clean: Plant) -> None:
    assert clean.manifest["scenarios_planted"] is False and clean.manifest["scenarios"] == {}
    assert [f.subject_key for f in all_findings(clean.engine)] == []


def test_findings_are_stable_and_suggestions_valid(full: Plant) -> None:
    first, again = all_findings(full.engine), all_findings(full.engine)
    assert first == again
    keys = [f.subject_key for f in first]
    assert len(keys) == len(set(keys))
    for f in first:
        assert f.site_id in SITES and f.as_of == AS_OF and f.title.endswith(".") and f.record_ids
        assert f.detector in DETECTOR_KINDS and f.subject_key.startswith(f"{f.detector}:")
        if f.suggested is not None:
            ARGS_MODELS[f.suggested.action].model_validate(dict(f.suggested.args))


def test_unknown_kind_and_parameter_are_typed_errors(full: Plant) -> None:
    with full.engine.connect() as conn:
        with pytest.raises(UnknownDetector):
            run_detector(conn, "nope", site_id="P100", params={}, as_of=AS_OF, today=TODAY)
        with pytest.raises(ArgumentError, match="window"):
            run_detector(conn, "asset_risk", site_id="P100", params={"window": 3}, as_of=AS_OF, today=TODAY)
        # partial parameters fall back to the defaults; a stricter threshold finds fewer assets
        strict = run_detector(conn, "asset_risk", site_id="P100", params={"failure_probability": 0.95},
                              as_of=AS_OF, today=TODAY)
    assert strict == []
