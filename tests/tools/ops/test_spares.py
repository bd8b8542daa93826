"""spare_parts on crafted rows (hand-computed expectations) and on the generated demo plant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from tests.factories import make_ctx
from tests.tools.ops.maint_rows import COST, COSTS, P100, P200, fields_of, seed_maintenance
from tools.errors import ArgumentError
from tools.ops import spares
from tools.scope import DataScope
from tools.spec import NotFound, ToolContext

TOOL = spares.TOOLS[0]
NO_COST = DataScope.for_sites(["P100"], masked=[COST])
STOCK = ("asset_id", "item_id", "qty_required", "available", "reserved_for_asset", "short")


def run(ctx: ToolContext, args: dict[str, Any]) -> Any:
    """Invoke the tool through its spec (argument validation, NotFound) and return its typed result."""
    return TOOL.invoke(ctx, args)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement run on ``engine`` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    return seed_maintenance(blank_plant)


def test_spares_with_stock_reservations_and_short_flag_riskiest_first(plant: Engine) -> None:
    res = run(make_ctx(plant, P100), {})
    # AS-3 (0.8), AS-1 (latest 0.6, not its older 0.9), AS-2 never scored last.
    # SP-1 at P100: 1 unrestricted (the blocked 5 does not count); SP-2: 4 on hand − 1.5 reserved (for AS-1);
    # SP-3: 3 unrestricted (the 2 in quality inspection do not count). Equal to the need is not short.
    assert fields_of(res.rows, *STOCK) == [
        ("AS-3", "SP-1", 1.0, 1.0, 0.0, False), ("AS-3", "SP-3", 4.0, 3.0, 0.0, True),
        ("AS-1", "SP-1", 2.0, 1.0, 0.0, True), ("AS-1", "SP-2", 1.0, 2.5, 1.5, False),
        ("AS-2", "SP-2", 1.0, 2.5, 0.0, False)]
    assert [r.failure_probability for r in res.rows] == [0.8, 0.8, 0.6, 0.6, None]
    first = res.rows[0]
    assert (first.asset_name, first.site_id, first.description) == ("AS-3 name", "P100", "SP-1 part")
    assert (res.summary.assets, res.summary.parts, res.summary.short, res.more) == (3, 5, 2, 0)
    assert set(res.record_ids) == {"AS-1", "AS-2", "AS-3", "SP-1", "SP-2", "SP-3"}


def test_p100_scope_never_sees_p200_assets_stock_or_reservations(plant: Engine) -> None:
    res = run(make_ctx(plant, P100), {"item_id": "SP-1"})
    assert fields_of(res.rows, "asset_id", "available") == [("AS-3", 1.0), ("AS-1", 1.0)]  # not P200's 8
    assert "P200" not in res.model_dump_json() and "AS-9" not in res.record_ids
    p200 = run(make_ctx(plant, P200), {})
    assert fields_of(p200.rows, *STOCK) == [("AS-9", "SP-1", 1.0, 8.0, 2.0, False),
                                            ("AS-9", "SP-4", 1.0, 0.0, 0.0, True)]
    everywhere = run(make_ctx(plant), {})
    assert [r.asset_id for r in everywhere.rows][:2] == ["AS-9", "AS-9"]  # 0.95 leads
    assert (everywhere.summary.assets, everywhere.summary.parts, everywhere.summary.short) == (4, 7, 3)
    assert run(make_ctx(plant, DataScope.for_sites([])), {}).rows == []


def test_filters_and_short_only(plant: Engine) -> None:
    ctx = make_ctx(plant, P100)
    short = run(ctx, {"short_only": True})
    assert fields_of(short.rows, "asset_id", "item_id") == [("AS-3", "SP-3"), ("AS-1", "SP-1")]
    assert (short.summary.assets, short.summary.parts, short.summary.short) == (2, 2, 2)
    assert fields_of(run(ctx, {"asset_id": "AS-1"}).rows, "item_id") == [("SP-1",), ("SP-2",)]
    assert fields_of(run(ctx, {"line_id": "P100-MC1"}).rows, "asset_id", "item_id") == [("AS-3", "SP-1"),
                                                                                         ("AS-3", "SP-3")]
    assert fields_of(run(ctx, {"item_id": "SP-2"}).rows, "asset_id") == [("AS-1",), ("AS-2",)]
    assert fields_of(run(ctx, {"site_id": "P100", "item_id": "SP-2", "short_only": True}).rows, "asset_id") == []
    none = run(ctx, {"asset_id": "AS-2", "short_only": True})
    assert none.rows == [] and (none.summary.assets, none.summary.parts, none.summary.short, none.more) == (0, 0, 0, 0)


def test_limit_keeps_the_summary_and_says_how_many_more(plant: Engine) -> None:
    res = run(make_ctx(plant, P100), {"limit": 2})
    assert fields_of(res.rows, "asset_id", "item_id") == [("AS-3", "SP-1"), ("AS-3", "SP-3")]
    assert res.more == 3 and (res.summary.assets, res.summary.parts, res.summary.short) == (3, 5, 2)


def test_standard_cost_only_when_the_scope_may_see_it(plant: Engine) -> None:
    assert TOOL.sensitive_fields == frozenset({COST})
    shown = run(make_ctx(plant, P100), {})
    assert {r.item_id: r.standard_cost for r in shown.rows} == {i: COSTS[i] for i in ("SP-1", "SP-2", "SP-3")}
    with statements(plant) as sql:
        masked = run(make_ctx(plant, NO_COST), {})
    assert [r.standard_cost for r in masked.rows] == [None] * 5
    assert fields_of(masked.rows, *STOCK) == fields_of(shown.rows, *STOCK)
    assert sql and not [s for s in sql if "standard_cost" in s]  # never selected, not even into the query
    aggregate_only = DataScope(sites=frozenset({"P100"}), aggregate_only_fields=frozenset({COST}))
    assert {r.standard_cost for r in run(make_ctx(plant, aggregate_only), {}).rows} == {None}


def test_foreign_and_missing_records_are_not_found_alike(plant: Engine) -> None:
    ctx = make_ctx(plant, P100)
    foreign, missing = run(ctx, {"asset_id": "AS-9"}), run(ctx, {"asset_id": "AS-404"})
    assert isinstance(foreign, NotFound) and isinstance(missing, NotFound)
    assert (foreign.entity, foreign.message.replace("AS-9", "X")) == (missing.entity,
                                                                      missing.message.replace("AS-404", "X"))
    # SP-4 is a spare of the P200 asset only; FG-1001 is no asset's spare: both read as missing here
    for item in ("SP-4", "SP-404", "FG-1001"):
        res = run(ctx, {"item_id": item})
        assert isinstance(res, NotFound) and (res.entity, res.missing_ids) == ("spare part", [item])
    assert fields_of(run(make_ctx(plant), {"item_id": "SP-4"}).rows, "asset_id") == [("AS-9",)]
    assert run(ctx, {"line_id": "P200-MC1"}).entity == "production line"
    assert run(ctx, {"site_id": "P200"}).entity == "site"


@pytest.mark.parametrize(("args", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"short_only": "maybe"}, "short_only"),
    ({"asset_id": ""}, "asset_id"), ({"threshold": 0.5}, "threshold"),
])
def test_bad_arguments_name_the_field(plant: Engine, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        run(make_ctx(plant), args)
    assert err.value.field == field


_AVAILABLE = text("""
    SELECT sp.asset_id, sp.item_id, sp.qty_required,
           COALESCE((SELECT SUM(i.qty_on_hand - i.qty_reserved) FROM inventory i
                     WHERE i.site_id = a.site_id AND i.item_id = sp.item_id
                       AND i.stock_status = 'unrestricted'), 0) AS available
    FROM spare_parts sp JOIN assets a ON a.asset_id = sp.asset_id
    WHERE a.site_id = 'P100'
""")


def test_demo_at_risk_asset_is_short_of_its_spare_with_cost_masked(demo_plant: Engine,
                                                                    demo_manifest: dict[str, Any]) -> None:
    with demo_plant.connect() as conn:
        expected = {(r.asset_id, r.item_id): (float(r.qty_required), float(r.available))
                    for r in conn.execute(_AVAILABLE)}
    res = run(make_ctx(demo_plant, NO_COST), {"limit": 200})
    assert res.more == 0 and res.summary.parts == len(expected) == len(res.rows)
    for r in res.rows:  # the short flag, recomputed from the inventory rows themselves
        required, available = expected[(r.asset_id, r.item_id)]
        assert (r.qty_required, r.available, r.short) == (required, pytest.approx(available),
                                                          available < required), r
        assert r.standard_cost is None and r.site_id == "P100"
    assert res.summary.short == sum(required > available for required, available in expected.values())
    probabilities = [r.failure_probability for r in res.rows if r.failure_probability is not None]
    assert probabilities == sorted(probabilities, reverse=True)
    risk = demo_manifest["scenarios"]["asset_risk"]
    mine = run(make_ctx(demo_plant, NO_COST), {"asset_id": risk["asset_id"]})
    assert res.rows[: len(mine.rows)] == mine.rows  # the at-risk asset comes first
    spare = {r.item_id: r for r in mine.rows}[risk["spare_item_id"]]
    assert spare.short and spare.failure_probability == pytest.approx(risk["failure_probability"])
    required, available = expected[(risk["asset_id"], risk["spare_item_id"])]
    assert (spare.qty_required, spare.available) == (required, available) and available < required
    short = run(make_ctx(demo_plant, NO_COST), {"short_only": True})
    assert (risk["asset_id"], risk["spare_item_id"]) in fields_of(short.rows, "asset_id", "item_id")


def test_stock_reserved_for_the_asset_covers_its_need(plant: Engine) -> None:
    # Need 2 of SP-1 for AS-1: 3 on hand, 2 of them reserved for AS-1 → 1 free + 2 its own = covered, not short.
    with plant.begin() as conn:
        conn.execute(text("UPDATE inventory SET qty_on_hand = 3, qty_reserved = 2 "
                          "WHERE lot_id = 'LOT-S1'"))
        conn.execute(text("INSERT INTO spare_reservations (reservation_id, asset_id, item_id, site_id, location, "
                          "lot_id, qty, reserved_at, request_id) VALUES ('SPR-3', 'AS-1', 'SP-1', 'P100', 'MRO', "
                          "'LOT-S1', 2, '2026-03-01 08:00:00', 'req-test')"))
    rows = {(r.asset_id, r.item_id): r for r in run(make_ctx(plant, P100), {"item_id": "SP-1"}).rows}
    assert (rows["AS-1", "SP-1"].available, rows["AS-1", "SP-1"].reserved_for_asset, rows["AS-1", "SP-1"].short) \
        == (1.0, 2.0, False)
    # Another asset cannot count AS-1's reservation: AS-3 needs 1 and 1 is free, so it is covered too.
    assert (rows["AS-3", "SP-1"].reserved_for_asset, rows["AS-3", "SP-1"].short) == (0.0, False)
