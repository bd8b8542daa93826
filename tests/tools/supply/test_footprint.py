"""item_sites on its prepared statements gives exactly what the per-call build (the reference) gives.

The statement is built once per shape and bound per call; these tests run both paths on the same data for every
shape (scope of every site, some sites, one site, no site; items named or not; a site named or not) and check
that a change to the data shows at once (only the statement is kept, never the rows).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import pytest
from sqlalchemy import Connection, Engine, delete, select

from tests.factories import insert
from tests.tools.supply.scm_rows import item, lot
from tools.plant.db import make_engine
from tools.plant.schema import table
from tools.scope import DataScope
from tools.supply._footprint import footprint, footprint_reference
from tools.supply.common import item_sites


def reference(conn: Connection, scope: DataScope, item_ids: Collection[str] | None,
              site_id: str | None) -> dict[str, set[str]]:
    """item_sites as it was: the statement built afresh on each call."""
    result: dict[str, set[str]] = {}
    for row in conn.execute(footprint_reference(scope, item_ids, site_id)):
        result.setdefault(row.item_id, set()).add(row.site_id)
    return result


def scopes(sites: list[str]) -> list[DataScope]:
    return [DataScope(), DataScope(sites=frozenset(sites)), DataScope(sites=frozenset(sites[:1])),
            DataScope(sites=frozenset(sites[1:])), DataScope(sites=frozenset()),
            DataScope(sites=frozenset({"NO-SUCH-SITE"}))]


@pytest.fixture
def demo(plant_url: str) -> Iterator[Engine]:
    """This test's copy of the demo plant on each backend (SQLite, and Postgres when the run has it)."""
    engine = make_engine(plant_url)
    yield engine
    engine.dispose()


def test_every_shape_matches_the_reference_on_the_demo_plant(demo: Engine) -> None:
    with demo.connect() as conn:
        sites = sorted(conn.execute(select(table("sites").c.site_id)).scalars())
        items = sorted(conn.execute(select(table("items").c.item_id)).scalars())
        everything = reference(conn, DataScope(), None, None)
        assert len(sites) >= 2 and len(everything) > 10  # the sweep below covers real footprints
        named: list[Collection[str] | None] = [None, [], items[:1], items[::7], {*items[3:9], "NO-SUCH-ITEM"},
                                                ["NO-SUCH-ITEM"]]
        checked = 0
        for scope in scopes(sites):
            for item_ids in named:
                for site_id in (None, *sites, "NO-SUCH-SITE"):
                    expected = reference(conn, scope, item_ids, site_id)
                    assert item_sites(conn, scope, item_ids, site_id) == expected, (scope, item_ids, site_id)
                    checked += bool(expected)
        assert checked > 20  # many of the combinations found something


def test_the_same_shape_reuses_one_statement_and_binds_the_values() -> None:
    some, other = DataScope(sites=frozenset({"P100"})), DataScope(sites=frozenset({"P200", "P100"}))
    first, first_params = footprint(some, ["B"], "P100")
    second, second_params = footprint(other, ["A", "C"], "P200")
    assert first is second
    assert first_params == {"scope_sites": ["P100"], "item_ids": ["B"], "site_id": "P100"}
    assert second_params == {"scope_sites": ["P100", "P200"], "item_ids": ["A", "C"], "site_id": "P200"}
    assert footprint(DataScope(), None, None)[0] is not first
    assert footprint(DataScope(), None, None)[1] == {}


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    insert(blank_plant, "items", [item("RM-1"), item("RM-2")])
    insert(blank_plant, "lots", [lot("LOT-A", "RM-1"), lot("LOT-B", "RM-2", "P200")])
    return blank_plant


def test_a_change_to_the_data_shows_at_once(plant: Engine) -> None:
    scope = DataScope(sites=frozenset({"P100", "P200"}))
    with plant.connect() as conn:
        assert item_sites(conn, scope, ["RM-1", "RM-2"]) == {"RM-1": {"P100"}, "RM-2": {"P200"}}
    insert(plant, "lots", [lot("LOT-C", "RM-1", "P200")])
    with plant.begin() as conn:
        conn.execute(delete(table("lots")).where(table("lots").c.lot_id == "LOT-B"))
    with plant.connect() as conn:
        got = item_sites(conn, scope, ["RM-1", "RM-2"])
        assert got == {"RM-1": {"P100", "P200"}} == reference(conn, scope, ["RM-1", "RM-2"], None)
