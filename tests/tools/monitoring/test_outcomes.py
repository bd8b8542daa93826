"""check_outcome after an action: rows written into a copy of the seed-42 plant after ``since``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update

from tests.tools.monitoring.monitoring_helpers import AS_OF, TODAY, Plant, build
from tools import make_engine
from tools.monitoring import DEFAULT_PARAMS, Finding, check_outcome, run_detector
from tools.plant.schema import table

SINCE = AS_OF + timedelta(hours=1)
LATER = AS_OF + timedelta(days=2)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Plant]]:
    folder = tmp_path_factory.mktemp("outcome-plant")
    plant = build(folder, 42, scenarios=True)
    plant.engine.dispose()
    yield folder / "plant.db", plant


@pytest.fixture
def engine(source: tuple[Path, Plant], tmp_path: Path) -> Iterator[Engine]:
    copy = tmp_path / "plant.db"
    shutil.copy(source[0], copy)
    eng = make_engine(f"sqlite:///{copy}")
    yield eng
    eng.dispose()


def _finding(engine: Engine, kind: str, key: str) -> Finding:
    with engine.connect() as conn:
        found = {f.subject_key: f for f in run_detector(conn, kind, site_id="P100", params=DEFAULT_PARAMS[kind],
                                                        as_of=AS_OF, today=TODAY)}
    return found[key]


def _outcome(engine: Engine, finding: Finding) -> str:
    with engine.connect() as conn:
        return check_outcome(conn, finding, params=DEFAULT_PARAMS[finding.detector], since=SINCE, as_of=LATER,
                             today=LATER.date()).status


def _produce(engine: Engine, good: float, scrap: float, line_id: str, wo_id: str) -> None:
    with engine.begin() as conn:
        for n in range(4):
            at = SINCE + timedelta(hours=2 + 6 * n)
            conn.execute(insert(table("production_confirmations")).values(
                confirmation_id=f"PC-T{n}", wo_id=wo_id, site_id="P100", line_id=line_id, confirmed_at=at,
                qty_good=good / 4))
            conn.execute(insert(table("scrap_records")).values(
                scrap_id=f"SR-T{n}", site_id="P100", line_id=line_id, wo_id=wo_id, item_id="FG-1001",
                qty=scrap / 4, reason_code="SEAL_FAIL", recorded_at=at))


@pytest.fixture
def spike(engine: Engine, source: tuple[Path, Plant]) -> Finding:
    scen = source[1].manifest["scenarios"]["scrap_spike"]
    return _finding(engine, "scrap_spike", f"scrap_spike:{scen['line_id']}:{scen['lot_id']}")


def test_scrap_back_at_baseline_is_improved(engine: Engine, spike: Finding) -> None:
    baseline = float(spike.figures["baseline_rate"] or 0.0)
    _produce(engine, 1000 * (1 - baseline), 1000 * baseline, str(spike.figures["line_id"]), spike.record_ids[2])
    assert _outcome(engine, spike) == "improved"


def test_scrap_still_high_is_not_improving(engine: Engine, spike: Finding) -> None:
    _produce(engine, 900, 100, str(spike.figures["line_id"]), spike.record_ids[2])
    assert _outcome(engine, spike) == "not_improving"


def test_no_production_since_is_no_data(engine: Engine, spike: Finding) -> None:
    assert _outcome(engine, spike) == "no_data"


@pytest.fixture
def risk(engine: Engine, source: tuple[Path, Plant]) -> Finding:
    return _finding(engine, "asset_risk", f"asset_risk:{source[1].manifest['scenarios']['asset_risk']['asset_id']}")


def _score(engine: Engine, asset_id: str, probability: float, hours: int = 20) -> None:
    with engine.begin() as conn:
        conn.execute(insert(table("asset_health")).values(
            asset_id=asset_id, scored_at=SINCE + timedelta(hours=hours), failure_probability=probability,
            horizon_days=7, model_version="test", top_signal="test"))


def test_new_maintenance_order_is_improved(engine: Engine, risk: Finding) -> None:
    assert _outcome(engine, risk) == "no_data"
    with engine.begin() as conn:
        conn.execute(insert(table("maintenance_orders")).values(
            mo_id="MO-9999", asset_id=risk.figures["asset_id"], mo_type="predictive", status="scheduled",
            priority=1, scheduled_start=SINCE + timedelta(hours=1), scheduled_end=SINCE + timedelta(hours=7),
            description="spindle repair"))
    assert _outcome(engine, risk) == "improved"


def test_asset_score_decides_without_a_new_order(engine: Engine, risk: Finding) -> None:
    _score(engine, str(risk.figures["asset_id"]), 0.85)
    assert _outcome(engine, risk) == "not_improving"
    _score(engine, str(risk.figures["asset_id"]), 0.2, hours=30)
    assert _outcome(engine, risk) == "improved"


def test_cross_system_cleared_is_improved(engine: Engine, source: tuple[Path, Plant]) -> None:
    lot_id = source[1].manifest["scenarios"]["reconciliation"]["lot_id"]
    finding = _finding(engine, "cross_system", f"cross_system:hold_vs_stock_status:{lot_id}")
    assert _outcome(engine, finding) == "not_improving"
    inv = table("inventory")
    with engine.begin() as conn:
        conn.execute(update(inv).where(inv.c.lot_id == lot_id).values(stock_status="quality_inspection"))
    assert _outcome(engine, finding) == "improved"
