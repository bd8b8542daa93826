"""maintenance_orders on crafted rows (hand-computed expectations) and on the generated demo plant."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.factories import make_ctx
from tests.tools.ops.maint_rows import P100, P200, fields_of, seed_maintenance
from tools.errors import ArgumentError
from tools.ops import maintenance_orders
from tools.ops.maintenance_orders import MaintenanceOrdersResult
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import NotFound, ToolContext

TOOL = maintenance_orders.TOOLS[0]


def run(ctx: ToolContext, args: dict[str, Any]) -> Any:
    """Invoke the tool through its spec (argument validation, NotFound) and return its typed result."""
    return TOOL.invoke(ctx, args)


def ids(res: MaintenanceOrdersResult) -> list[str]:
    return [r.mo_id for r in res.rows]


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    return seed_maintenance(blank_plant)


def test_orders_in_scope_by_scheduled_start_with_summary(plant: Engine) -> None:
    res = run(make_ctx(plant, P100), {})
    # by start; MO-3 before MO-10 at the same start (priority 2 before 4); unscheduled last, by priority
    assert ids(res) == ["MO-2", "MO-4", "MO-5", "MO-3", "MO-10", "MO-6", "MO-8", "MO-1", "MO-7"]
    assert res.summary.count == 9 and res.more == 0
    assert list(res.summary.by_status.items()) == [("open", 1), ("scheduled", 5), ("in_progress", 1),
                                                   ("completed", 1), ("cancelled", 1)]
    first = res.rows[3]
    assert (first.asset_id, first.asset_name, first.machine_id, first.line_id, first.site_id, first.mo_type,
            first.status, first.priority, first.scheduled_start, first.scheduled_end, first.description) == (
        "AS-1", "AS-1 name", "M-P100-PK1-01", "P100-PK1", "P100", "preventive", "scheduled", 2,
        datetime(2026, 3, 5, 8), datetime(2026, 3, 5, 9), "MO-3 text")
    facility = {r.mo_id: r for r in res.rows}["MO-6"]
    assert (facility.machine_id, facility.line_id) == (None, None)
    assert {"MO-1", "MO-7", "AS-1", "M-P100-MC1-01"} <= set(res.record_ids)


def test_p100_scope_never_sees_p200_orders(plant: Engine) -> None:
    res = run(make_ctx(plant, P100), {"mo_type": "predictive"})
    assert ids(res) == ["MO-1"]
    assert "P200" not in res.model_dump_json() and "MO-9" not in res.record_ids and "AS-9" not in res.record_ids
    assert ids(run(make_ctx(plant, P200), {})) == ["MO-9"]
    assert ids(run(make_ctx(plant), {"mo_type": "predictive"})) == ["MO-9", "MO-1"]  # unscheduled last
    assert "MO-9" not in ids(run(make_ctx(plant), {"site_id": "P100"}))
    assert ids(run(make_ctx(plant, DataScope.for_sites([])), {})) == []


def test_status_open_only_and_type_filters(plant: Engine) -> None:
    ctx = make_ctx(plant, P100)
    open_only = run(ctx, {"open_only": True})
    assert ids(open_only) == ["MO-4", "MO-5", "MO-3", "MO-10", "MO-6", "MO-8", "MO-1"]
    assert open_only.summary.by_status == {"open": 1, "scheduled": 5, "in_progress": 1}
    assert ids(run(ctx, {"status": "scheduled"})) == ["MO-5", "MO-3", "MO-10", "MO-6", "MO-8"]
    assert ids(run(ctx, {"status": "cancelled"})) == ["MO-7"]
    assert ids(run(ctx, {"status": "completed", "open_only": True})) == []  # filters combine with AND
    assert ids(run(ctx, {"mo_type": "corrective"})) == ["MO-4", "MO-7"]
    assert ids(run(ctx, {"mo_type": "corrective", "open_only": True})) == ["MO-4"]


def test_scheduled_within_days_counts_from_today_inclusive(plant: Engine) -> None:
    ctx = make_ctx(plant, P100)
    assert ids(run(ctx, {"scheduled_within_days": 0})) == ["MO-5"]  # MO-4 started yesterday
    assert ids(run(ctx, {"scheduled_within_days": 6})) == ["MO-5", "MO-3", "MO-10"]
    assert ids(run(ctx, {"scheduled_within_days": 7})) == ["MO-5", "MO-3", "MO-10", "MO-6"]  # MO-8 is day 8
    assert ids(run(make_ctx(plant), {"scheduled_within_days": 1, "open_only": True})) == ["MO-5", "MO-9"]


def test_asset_and_line_filters(plant: Engine) -> None:
    ctx = make_ctx(plant, P100)
    assert ids(run(ctx, {"line_id": "P100-PK1"})) == ["MO-2", "MO-3", "MO-10", "MO-1"]
    assert ids(run(ctx, {"line_id": "P100-PK1", "open_only": True})) == ["MO-3", "MO-10", "MO-1"]
    assert ids(run(ctx, {"asset_id": "AS-2"})) == ["MO-6", "MO-7"]
    assert ids(run(ctx, {"asset_id": "AS-3", "line_id": "P100-PK1"})) == []
    assert ids(run(ctx, {"line_id": "P100-MC1", "scheduled_within_days": 0})) == ["MO-5"]
    none = run(ctx, {"line_id": "P100-PK1", "scheduled_within_days": 0})
    assert none.summary.count == 0 and none.rows == [] and none.summary.by_status == {}
    assert none.record_ids == ["P100-PK1"]


def test_limit_keeps_the_summary_and_says_how_many_more(plant: Engine) -> None:
    res = run(make_ctx(plant, P100), {"limit": 3})
    assert ids(res) == ["MO-2", "MO-4", "MO-5"] and res.more == 6 and res.summary.count == 9
    assert {"MO-7", "MO-1"} <= set(res.record_ids)  # the summary counted them


def test_foreign_and_missing_records_are_not_found_alike(plant: Engine) -> None:
    ctx = make_ctx(plant, P100)
    foreign, missing = run(ctx, {"asset_id": "AS-9"}), run(ctx, {"asset_id": "AS-404"})
    assert isinstance(foreign, NotFound) and isinstance(missing, NotFound)
    assert (foreign.entity, foreign.message.replace("AS-9", "X")) == (missing.entity,
                                                                      missing.message.replace("AS-404", "X"))
    assert foreign.entity == "asset"
    assert run(ctx, {"line_id": "P200-MC1"}).entity == "production line"
    assert run(ctx, {"site_id": "P200"}).entity == "site"


@pytest.mark.parametrize(("args", "field"), [
    ({"scheduled_within_days": -1}, "scheduled_within_days"), ({"status": "done"}, "status"),
    ({"mo_type": "urgent"}, "mo_type"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"mo": "x"}, "mo"),
])
def test_bad_arguments_name_the_field(plant: Engine, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        run(make_ctx(plant), args)
    assert err.value.field == field


def test_demo_orders_match_the_database_and_the_risk_scenario(demo_plant: Engine,
                                                               demo_manifest: dict[str, Any]) -> None:
    mo, assets = table("maintenance_orders"), table("assets")
    with demo_plant.connect() as conn:
        p100 = conn.execute(select(mo.c.mo_id, mo.c.status, mo.c.scheduled_start)
                            .join(assets, assets.c.asset_id == mo.c.asset_id)
                            .where(assets.c.site_id == "P100")).all()
    res = run(make_ctx(demo_plant, P100), {"limit": 200})
    assert res.summary.count == len(p100) == len(res.rows) and res.more == 0
    assert res.summary.by_status == dict(Counter(r.status for r in p100))
    assert {r.site_id for r in res.rows} == {"P100"}
    starts = [r.scheduled_start for r in res.rows]
    scheduled = [s for s in starts if s is not None]
    assert scheduled == sorted(scheduled) and starts == scheduled + [None] * (len(starts) - len(scheduled))
    risk = demo_manifest["scenarios"]["asset_risk"]
    at_risk = run(make_ctx(demo_plant, P100), {"asset_id": risk["asset_id"], "open_only": True})
    assert ("predictive", "open") in fields_of(at_risk.rows, "mo_type", "status")
    assert {(r.machine_id, r.line_id) for r in at_risk.rows} == {(risk["machine_id"], risk["line_id"])}
