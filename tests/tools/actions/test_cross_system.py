"""Cross-system guards (tools/actions/_cross_system.py) through reallocate_inventory, on the demo plant.

MES holds a lot → its stock may not move, and the reason names the lot, its MES status and ERP's
contradicting unrestricted stock. Stock may not leave a site when what stays would no longer
cover the open work orders its lines start within the horizon: on seeds 42, 7 and 2024 the planted
reallocation (P200's whole shortage from P100) is refused for P100-AS1, a move within P100's margin is not.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import AS_OF, TODAY
from tests.tools.actions.helpers import ctx, execute_sql, ledger, one, rows, spec, state
from tools.actions._cross_system import DEFAULT_HORIZON_DAYS, line_constraint
from tools.demo import build_plant, read_manifest
from tools.plant.db import make_engine
from tools.scope import DataScope
from tools.supply.projection import projected_positions

SEEDS = (42, 7, 2024)

MOVE = spec("reallocate_inventory")
HOLD = spec("place_quality_hold")

FREE = ("SELECT COALESCE(SUM(i.qty_on_hand - i.qty_reserved), 0) FROM inventory i JOIN lots l ON l.lot_id = i.lot_id "
        "WHERE i.item_id = :item AND i.site_id = :site AND i.stock_status = 'unrestricted' AND l.status = 'available'")

# What the open work orders of a site still need of a component: qty_per × qty_planned − issued, never < 0.
NEEDS = ("SELECT w.wo_id, w.line_id, w.status, b.qty_per * w.qty_planned - COALESCE((SELECT SUM(m.qty_issued) FROM "
         "wo_materials m WHERE m.wo_id = w.wo_id AND m.item_id = :item), 0) AS need FROM work_orders w "
         "JOIN bom_lines b ON b.parent_item_id = w.item_id AND b.component_item_id = :item WHERE w.site_id = :site "
         "AND w.status IN ('planned', 'released', 'running') AND w.planned_start < :until "
         "ORDER BY w.planned_start, w.wo_id")


def move(item: str, qty: float, **extra: Any) -> dict[str, Any]:
    return {"item_id": item, "qty": qty, "from_site_id": "P100", "to_site_id": "P200",
            "reason": "cover the shortage at the other plant", **extra}


def line_needs(engine: Engine, item: str, site: str, days: int = DEFAULT_HORIZON_DAYS) -> list[dict[str, Any]]:
    found = rows(engine, NEEDS, item=item, site=site, until=AS_OF + timedelta(days=days))
    return [r for r in found if r["need"] > 1e-9]


# ---------------------------------------------------------------------------- held lots


def test_named_lot_on_hold_in_mes_with_unrestricted_erp_stock_is_refused(plant: Engine,
                                                                         scenarios: dict[str, Any]) -> None:
    lot = scenarios["reconciliation"]["lot_id"]  # planted: quality_hold in MES, unrestricted in ERP
    item = one(plant, "SELECT item_id FROM lots WHERE lot_id = :l", l=lot)
    erp = one(plant, "SELECT SUM(qty_on_hand) FROM inventory WHERE lot_id = :l AND site_id = 'P100' AND "
                     "stock_status = 'unrestricted'", l=lot)
    assert erp > 0
    expected = (f"lot {lot} is on quality hold in MES although ERP shows {erp:g} unrestricted at P100; "
                "resolve the hold first")
    pre = MOVE.precondition(ctx(plant), move(item, 1, from_lot_id=lot))
    assert not pre.ok and pre.reason == expected  # not "only 0 free", which hid the reason
    before = state(plant)
    result = MOVE.execute(ctx(plant), move(item, 1, from_lot_id=lot), idempotency_key="k", request_id="r")
    assert result.status == "precondition_failed" and result.reason == expected
    assert state(plant) == before and result.changed == []


def test_named_lot_held_in_both_systems_names_erps_status(plant: Engine, scenarios: dict[str, Any]) -> None:
    spike = scenarios["scrap_spike"]
    lot, item = spike["lot_id"], spike["item_id"]
    assert HOLD.execute(ctx(plant), {"lot_id": lot, "reason": "seal failures"}, idempotency_key="h",
                        request_id="h").status == "executed"
    qty = one(plant, "SELECT SUM(qty_on_hand) FROM inventory WHERE lot_id = :l AND site_id = 'P100'", l=lot)
    pre = MOVE.precondition(ctx(plant), move(item, 1, from_lot_id=lot))
    assert not pre.ok
    assert pre.reason == (f"lot {lot} is on quality hold in MES ({qty:g} quality_inspection in ERP at P100); "
                          "resolve the hold first")


def test_named_lot_available_in_mes_but_held_in_erp(plant: Engine, scenarios: dict[str, Any]) -> None:
    spike = scenarios["scrap_spike"]
    lot, item = spike["lot_id"], spike["item_id"]
    execute_sql(plant, "UPDATE inventory SET stock_status = 'blocked' WHERE lot_id = :l", l=lot)
    pre = MOVE.precondition(ctx(plant), move(item, 1, from_lot_id=lot))
    assert not pre.ok and pre.reason == f"lot {lot} is available in MES but ERP shows its stock at P100 as blocked"


def test_oldest_first_skips_held_lots_and_says_why_when_only_they_have_stock(plant: Engine,
                                                                              scenarios: dict[str, Any]) -> None:
    lot = scenarios["reconciliation"]["lot_id"]
    item = one(plant, "SELECT item_id FROM lots WHERE lot_id = :l", l=lot)
    erp = one(plant, "SELECT SUM(qty_on_hand) FROM inventory WHERE lot_id = :l AND site_id = 'P100' AND "
                     "stock_status = 'unrestricted'", l=lot)
    free = float(one(plant, FREE, item=item, site="P100"))
    pre = MOVE.precondition(ctx(plant), move(item, free + 1))
    assert not pre.ok
    assert pre.reason.startswith(f"only {free:g} of {item} free in P100, {free + 1:g} requested; not usable: ")
    assert f"lot {lot} is on quality hold in MES although ERP shows {erp:g} unrestricted at P100" in pre.reason
    if free > 0:  # what is free still moves, and never from the held lot
        ok = MOVE.precondition(ctx(plant), move(item, free))
        assert ok.ok, ok.reason
        assert lot not in {r["lot_id"] for r in ok.snapshot["source_inventory"]}


# ---------------------------------------------------------------------------- line requirements


def test_move_that_would_starve_the_lines_is_refused(plant: Engine, scenarios: dict[str, Any]) -> None:
    sc = scenarios["reallocation"]
    item, line = sc["item_id"], sc["constrained_line_id"]
    needs = line_needs(plant, item, "P100")
    assert needs and {n["line_id"] for n in needs} == {line}
    required = sum(n["need"] for n in needs)
    # Reserve stock until only required + 30 stay free at P100: moving 30 is fine, 50 is not.
    keep = required + 30.0
    for r in rows(plant, "SELECT i.lot_id, i.location, i.qty_on_hand FROM inventory i JOIN lots l ON l.lot_id = "
                         "i.lot_id WHERE i.item_id = :i AND i.site_id = 'P100' AND i.stock_status = 'unrestricted' AND "
                         "l.status = 'available' ORDER BY l.received_at, i.lot_id, i.location", i=item):
        stays = min(keep, r["qty_on_hand"])
        keep -= stays
        execute_sql(plant, "UPDATE inventory SET qty_reserved = qty_on_hand - :stays WHERE site_id = 'P100' AND "
                           "item_id = :i AND lot_id = :l AND location = :loc", stays=stays, i=item, l=r["lot_id"],
                    loc=r["location"])
    assert float(one(plant, FREE, item=item, site="P100")) == pytest.approx(required + 30.0)
    before = state(plant)

    result = MOVE.execute(ctx(plant), move(item, 50), idempotency_key="k", request_id="r")

    assert result.status == "precondition_failed" and result.reason is not None
    wos = [f"{n['wo_id']} ({n['status']})" for n in needs]
    named = ", ".join(wos[:6]) + (f" and {len(wos) - 6} more" if len(wos) > 6 else "")
    assert result.reason == (f"{line} needs {required:g} of {item} for {named} within {DEFAULT_HORIZON_DAYS} days; "
                             f"moving 50 leaves {required - 20:g} free at P100 ({required:g} needed)")
    assert state(plant) == before and ledger(plant)[0]["status"] == "precondition_failed"
    assert MOVE.precondition(ctx(plant), move(item, 30)).ok


def test_the_horizon_bounds_the_work_orders_counted(plant: Engine, scenarios: dict[str, Any]) -> None:
    item = scenarios["reallocation"]["item_id"]
    free = float(one(plant, FREE, item=item, site="P100"))
    with plant.connect() as conn:
        default = line_constraint(conn, site_id="P100", item_id=item, qty=50, free=free, as_of=AS_OF)
        longer = line_constraint(conn, site_id="P100", item_id=item, qty=50, free=free, as_of=AS_OF,
                                 horizon_days=28)
    assert [n.wo_id for n in default.needs] == [n["wo_id"] for n in line_needs(plant, item, "P100")]
    assert [n.wo_id for n in longer.needs] == [n["wo_id"] for n in line_needs(plant, item, "P100", 28)]
    assert longer.required > default.required and default.horizon_days == DEFAULT_HORIZON_DAYS
    assert default.free_after == pytest.approx(free - 50)


def test_demo_reallocation_of_50_is_covered_by_the_margin(plant: Engine, scenarios: dict[str, Any]) -> None:
    # P100 holds the constrained line's 14-day needs plus a margin (planted below P200's shortage), so the
    # line rule lets a small move like 50 go; only a move eating into those needs is refused.
    sc = scenarios["reallocation"]
    required = sum(n["need"] for n in line_needs(plant, sc["item_id"], "P100"))
    free = float(one(plant, FREE, item=sc["item_id"], site="P100"))
    assert free - 50 > required
    assert MOVE.precondition(ctx(plant), move(sc["item_id"], 50)).ok
    too_much = MOVE.precondition(ctx(plant), move(sc["item_id"], free - required + 1))
    assert not too_much.ok and too_much.reason.startswith(f"{sc['constrained_line_id']} needs {required:g} of ")


def test_reallocation_of_an_item_no_line_needs_executes(plant: Engine) -> None:
    # A finished good: no bill of materials uses it, so no line at P100 needs it.
    found = rows(plant, "SELECT i.item_id, SUM(i.qty_on_hand - i.qty_reserved) AS free FROM inventory i JOIN lots l "
                        "ON l.lot_id = i.lot_id JOIN items it ON it.item_id = i.item_id WHERE i.site_id = 'P100' AND "
                        "it.item_type = 'finished' AND i.stock_status = 'unrestricted' AND l.status = 'available' "
                        "AND NOT EXISTS (SELECT 1 FROM bom_lines b WHERE b.component_item_id = i.item_id) "
                        "GROUP BY i.item_id HAVING SUM(i.qty_on_hand - i.qty_reserved) >= 10 ORDER BY i.item_id "
                        "LIMIT 1")
    assert found
    item, free = found[0]["item_id"], float(found[0]["free"])
    assert line_needs(plant, item, "P100") == []
    result = MOVE.execute(ctx(plant), move(item, free), idempotency_key="k", request_id="r")  # all of it
    assert result.status == "executed", result.reason
    assert float(one(plant, FREE, item=item, site="P100")) == pytest.approx(0.0)


# ---------------------------------------------------------------------------- the planted scenario, per seed


@pytest.fixture(scope="module", params=SEEDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(database file, reallocation scenario) of the demo plant of one seed, built once per module."""
    folder = tmp_path_factory.mktemp(f"seed-{request.param}")
    engine = make_engine(f"sqlite:///{folder / 'plant.db'}")
    build_plant(engine, seed=request.param, today=TODAY, manifest_dir=folder)
    engine.dispose()
    return folder / "plant.db", read_manifest(folder)["scenarios"]["reallocation"]


@pytest.fixture
def seed_plant(seeded: tuple[Path, dict[str, Any]], tmp_path: Path) -> Iterator[Engine]:
    """This test's own copy of the seed's plant."""
    shutil.copy(seeded[0], tmp_path / "plant.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'plant.db'}")
    yield engine
    engine.dispose()


def test_moving_p200s_shortage_from_p100_is_refused_by_the_constrained_line(
        seed_plant: Engine, seeded: tuple[Path, dict[str, Any]]) -> None:
    sc = seeded[1]
    item, line, blocked = sc["item_id"], sc["constrained_line_id"], sc["blocked_qty"]
    needs = line_needs(seed_plant, item, "P100")
    assert [n["wo_id"] for n in needs] == sc["line_work_order_ids"] and {n["line_id"] for n in needs} == {line}
    required, free = sum(n["need"] for n in needs), float(one(seed_plant, FREE, item=item, site="P100"))
    assert (required, free) == (pytest.approx(sc["line_need_qty"]), pytest.approx(sc["free_qty"]))
    # ERP: the stock is free, and there is enough of it for the whole move; MES: the line needs most of it.
    assert free > blocked > free - required
    before = state(seed_plant)

    result = MOVE.execute(ctx(seed_plant), move(item, blocked), idempotency_key="k", request_id="r")

    assert result.status == "precondition_failed" and result.reason is not None
    assert result.reason.startswith(f"{line} needs {required:g} of {item} for {needs[0]['wo_id']} ")
    assert result.reason.endswith(f"within {DEFAULT_HORIZON_DAYS} days; moving {blocked:g} leaves "
                                  f"{free - blocked:g} free at P100 ({required:g} needed)")
    assert state(seed_plant) == before and result.changed == []


def test_a_move_within_the_margin_passes_the_constrained_line(seed_plant: Engine,
                                                              seeded: tuple[Path, dict[str, Any]]) -> None:
    sc = seeded[1]
    item, allowed = sc["item_id"], sc["allowed_qty"]
    result = MOVE.execute(ctx(seed_plant), move(item, allowed), idempotency_key="k", request_id="r")
    assert result.status == "executed", result.reason
    left = float(one(seed_plant, FREE, item=item, site="P100"))
    assert left == pytest.approx(sc["free_qty"] - allowed) and left >= sc["line_need_qty"]


def test_the_source_site_is_not_itself_projected_short(seed_plant: Engine,
                                                       seeded: tuple[Path, dict[str, Any]]) -> None:
    sc = seeded[1]
    with seed_plant.connect() as conn:
        found = projected_positions(conn, DataScope.unrestricted(), today=TODAY, horizon_days=28,
                                    item_ids=[sc["item_id"]])
    surplus, short = found[(sc["item_id"], sc["surplus_site"])], found[(sc["item_id"], sc["short_site"])]
    assert surplus.first_shortage_date is None
    assert surplus.reorder_max is not None and surplus.start_available > surplus.reorder_max  # ERP: surplus
    assert short.first_shortage_date is not None
