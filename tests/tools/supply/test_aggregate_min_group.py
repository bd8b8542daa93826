"""Issue 16, finding 1: an aggregate over an aggregate-only field that is one row's value is that row's value.

eve.exec may see PO prices only in aggregate ("sums, never a row's value"). The open value of a PO with one open
line, divided by the line's open qty (which she sees), is its price; so is the open value of any set of lines that
all carry one price. Such totals are withheld (null, with the reason) in the scoped query; a total over at least
``min_group`` lines at more than one price is shown, and roles that see prices row by row are unaffected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from guardrails.gate import Gate
from guardrails.locator import SqlSiteResolver
from tests.factories import insert, make_ctx
from tests.policy_helpers import policy_user, shipped_policy
from tests.tools.supply.scm_rows import item, line, po, supplier
from tools import default_catalog
from tools.ops.executive import TOOLS as EXECUTIVE_TOOLS
from tools.ops.executive import ExecutiveSummaryResult
from tools.plant.db import make_engine
from tools.scope import DataScope
from tools.supply.procurement import TOOLS as PROCUREMENT_TOOLS
from tools.supply.procurement import OpenPoLinesResult
from tools.supply.triage import TOOLS as TRIAGE_TOOLS
from tools.supply.triage import TriageResult

PRICE = "po_lines.unit_price"
AGGREGATE_ONLY = DataScope(sites=frozenset({"P100", "P200"}), aggregate_only_fields=frozenset({PRICE}))
OPEN = ("pl.line_status = 'open' AND po.status IN ('approved', 'sent', 'acknowledged') "
        "AND pl.qty_received < pl.qty_ordered")
GROUPS = f"FROM po_lines pl JOIN purchase_orders po ON po.po_id = pl.po_id WHERE {OPEN}"


def open_lines(engine: Engine, scope: DataScope, **args: Any) -> OpenPoLinesResult:
    result = PROCUREMENT_TOOLS[0].invoke(make_ctx(engine, scope), args)
    assert isinstance(result, OpenPoLinesResult), result
    return result


def gate_scope(engine: Engine, user_id: str, tool: str = "open_po_lines", **args: Any) -> DataScope:
    """The scope the shipped policy's gate gives ``user_id`` for this call."""
    decision = Gate(shipped_policy(), default_catalog(), SqlSiteResolver(engine)).decide(
        policy_user(user_id), tool, args)
    assert decision.allowed, decision.reason
    return decision.scope


def first(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        row = conn.execute(text(sql)).first()
    assert row is not None, f"the demo plant has no such group: {sql}"
    return row


def leaked(result: OpenPoLinesResult | ExecutiveSummaryResult | TriageResult, *values: float) -> list[float]:
    """Those of ``values`` that appear as a figure (to the cent) anywhere in the result, text included."""
    figures = [float(f) for f in re.findall(r"(?<![\w.-])\d+(?:\.\d+)?", result.model_dump_json())]
    return [v for v in values if any(abs(v - f) < 0.005 for f in figures)]


# ------------------------------------------------------------------------------------------ the demo plant


@pytest.fixture
def plant(plant_url: str) -> Iterator[Engine]:
    """This test's copy of the demo plant on each backend: the counts are SQL, so both must agree."""
    engine = make_engine(plant_url)
    yield engine
    engine.dispose()


def test_the_open_value_of_a_one_line_po_is_withheld_from_eve(plant: Engine) -> None:
    # The attack: "What is the open value of PO-24131?" -> one open line, so value / open qty = price.
    po_id, currency, qty_open, price = first(plant, f"""
        SELECT po.po_id, po.currency, pl.qty_ordered - pl.qty_received, pl.unit_price {GROUPS}
        AND po.po_id IN (SELECT p2.po_id FROM po_lines p2 JOIN purchase_orders q2 ON q2.po_id = p2.po_id
                         WHERE p2.line_status = 'open' AND q2.status IN ('approved', 'sent', 'acknowledged')
                           AND p2.qty_received < p2.qty_ordered GROUP BY p2.po_id HAVING COUNT(*) = 1)
        ORDER BY po.po_id""")
    value = round(qty_open * price, 2)
    eve = open_lines(plant, gate_scope(plant, "eve.exec", po_id=po_id), po_id=po_id)
    assert [r.qty_open for r in eve.rows] == [qty_open]  # she sees the quantity ...
    assert eve.open_value_by_currency == {currency: None}  # ... so the total must not be there
    why = eve.open_value_withheld[currency]
    assert (why.field, why.rows, why.min_group) == (PRICE, 1, 3)
    assert why.reason.startswith("withheld: fewer than 3 lines contribute (policy min_group")
    assert why.reason in eve.message
    assert leaked(eve, value, price) == []
    for user_id in ("fay.finance", "bea.buyer"):  # roles that see prices row by row are unaffected
        full = open_lines(plant, gate_scope(plant, user_id, po_id=po_id), po_id=po_id)
        assert full.open_value_by_currency == {currency: pytest.approx(value)}
        assert full.open_value_withheld == {} and full.rows[0].unit_price == pytest.approx(price)


def test_a_supplier_with_two_lines_at_one_price_is_withheld(plant: Engine) -> None:
    supplier_id, currency = first(plant, f"""
        SELECT po.supplier_id, po.currency {GROUPS} GROUP BY po.supplier_id, po.currency
        HAVING COUNT(*) = 2 AND COUNT(DISTINCT pl.unit_price) = 1 ORDER BY po.supplier_id""")
    eve = open_lines(plant, gate_scope(plant, "eve.exec", supplier_id=supplier_id), supplier_id=supplier_id)
    assert eve.total_lines == 2 and eve.open_value_by_currency == {currency: None}
    assert "fewer than 3 lines" in eve.open_value_withheld[currency].reason


def test_three_lines_at_one_price_are_withheld_too(plant: Engine) -> None:
    # n >= min_group is not enough: lines of one item from one supplier share the list price, and the sum over
    # any number of them divided by their summed open qty is that price.
    item_id, currency, n, price = first(plant, f"""
        SELECT pl.item_id, po.currency, COUNT(*), MIN(pl.unit_price) {GROUPS} GROUP BY pl.item_id, po.currency
        HAVING COUNT(*) >= 3 AND COUNT(DISTINCT pl.unit_price) = 1 ORDER BY pl.item_id""")
    eve = open_lines(plant, gate_scope(plant, "eve.exec", item_id=item_id), item_id=item_id)
    assert eve.open_value_by_currency == {currency: None}
    why = eve.open_value_withheld[currency]
    assert why.rows == n and why.reason == (f"withheld: all {n} contributing lines have the same unit_price, so the "
                                            f"figure would reveal it (policy min_group for {PRICE})")
    assert leaked(eve, price) == []


def test_a_group_of_enough_lines_at_several_prices_is_shown(plant: Engine) -> None:
    supplier_id, currency, total = first(plant, f"""
        SELECT po.supplier_id, po.currency, SUM((pl.qty_ordered - pl.qty_received) * pl.unit_price) {GROUPS}
        GROUP BY po.supplier_id, po.currency HAVING COUNT(*) >= 3 AND COUNT(DISTINCT pl.unit_price) >= 2
        ORDER BY COUNT(*) DESC, po.supplier_id""")
    eve = open_lines(plant, gate_scope(plant, "eve.exec", supplier_id=supplier_id), supplier_id=supplier_id)
    assert eve.open_value_by_currency == {currency: pytest.approx(round(total, 2))}
    assert eve.open_value_withheld == {} and all(r.unit_price is None for r in eve.rows)
    summary = EXECUTIVE_TOOLS[0].invoke(make_ctx(plant, gate_scope(plant, "eve.exec", "executive_summary")), {})
    assert isinstance(summary, ExecutiveSummaryResult)
    assert all(s.open_po_value_withheld == {} and s.open_po_value_by_currency for s in summary.sites)


# ------------------------------------------------------------------------------------------ crafted rows


@pytest.fixture
def crafted(blank_plant: Engine) -> Engine:
    """P100: PO-1 one line; PO-2 two lines at one price; PO-3 three lines at one price; PO-4 three lines at two
    prices. P200 (MXN): PO-9 two lines at two prices."""
    insert(blank_plant, "items", [item("RM-1"), item("RM-2")])
    insert(blank_plant, "suppliers", [supplier("S-1"), supplier("S-2"), supplier("S-3"), supplier("S-4"),
                                      supplier("S-9", buyer="bo.buyer")])
    insert(blank_plant, "purchase_orders", [
        po("PO-1", supplier_id="S-1"), po("PO-2", supplier_id="S-2"), po("PO-3", supplier_id="S-3"),
        po("PO-4", supplier_id="S-4"), po("PO-9", site="P200", supplier_id="S-9", buyer="bo.buyer", currency="MXN")])
    insert(blank_plant, "po_lines", [
        line("PO-1", 1, "RM-1", qty=477.7, unit_price=22.2),
        line("PO-2", 1, "RM-1", qty=10, unit_price=7.25), line("PO-2", 2, "RM-2", qty=30, unit_price=7.25),
        *(line("PO-3", n, "RM-1", qty=10 * n, unit_price=3.5) for n in (1, 2, 3)),
        line("PO-4", 1, "RM-1", qty=10, unit_price=4.0), line("PO-4", 2, "RM-1", qty=10, unit_price=4.0),
        line("PO-4", 3, "RM-2", qty=10, unit_price=6.0),
        line("PO-9", 1, "RM-1", qty=5, unit_price=100.0), line("PO-9", 2, "RM-2", qty=5, unit_price=120.0),
    ])
    return blank_plant


@pytest.mark.parametrize(("args", "expected", "why"), [
    ({"po_id": "PO-1"}, {"USD": None}, "fewer than 3 lines"),
    ({"po_id": "PO-2"}, {"USD": None}, "fewer than 3 lines"),
    ({"po_id": "PO-3"}, {"USD": None}, "all 3 contributing lines have the same unit_price"),
    ({"po_id": "PO-4"}, {"USD": 140.0}, None),
    ({"site_id": "P200"}, {"MXN": None}, "fewer than 3 lines"),
    ({}, {"USD": 10604.94 + 290.0 + 210.0 + 140.0, "MXN": None}, "fewer than 3 lines"),
])
def test_each_currency_total_is_checked_on_its_own_lines(crafted: Engine, args: dict[str, Any],
                                                         expected: dict[str, float | None], why: str | None) -> None:
    r = open_lines(crafted, AGGREGATE_ONLY, **args)
    assert r.open_value_by_currency == {c: v if v is None else pytest.approx(v) for c, v in expected.items()}
    withheld = {c for c, v in expected.items() if v is None}
    assert set(r.open_value_withheld) == withheld
    for currency in withheld:
        assert why is not None and why in r.open_value_withheld[currency].reason
    assert leaked(r, 22.2, 10604.94, 7.25, 290.0, 3.5, 210.0, 1100.0) == []
    seen = open_lines(crafted, DataScope.unrestricted(), **args)  # row-level visibility: every total, no reason
    assert None not in seen.open_value_by_currency.values() and seen.open_value_withheld == {}


def test_the_policy_min_group_sets_the_floor(crafted: Engine) -> None:
    strict = DataScope(aggregate_only_fields=frozenset({PRICE}), min_group={PRICE: 4})
    r = open_lines(crafted, strict, po_id="PO-4")
    assert r.open_value_by_currency == {"USD": None}
    assert r.open_value_withheld["USD"].model_dump() == {
        "field": PRICE, "rows": 3, "min_group": 4,
        "reason": f"withheld: fewer than 4 lines contribute (policy min_group for {PRICE}); a figure over so few "
                  "lines would reveal a line's unit_price"}
    # A min_group below 2 cannot make a one-line total visible.
    assert open_lines(crafted, DataScope(aggregate_only_fields=frozenset({PRICE}), min_group={PRICE: 1}),
                      po_id="PO-1").open_value_by_currency == {"USD": None}


def test_executive_summary_and_triage_withhold_the_same_totals(crafted: Engine) -> None:
    summary = EXECUTIVE_TOOLS[0].invoke(make_ctx(crafted, AGGREGATE_ONLY), {})
    assert isinstance(summary, ExecutiveSummaryResult)
    p100, p200 = summary.sites
    assert p100.open_po_value_by_currency == {"USD": pytest.approx(10604.94 + 290.0 + 210.0 + 140.0)}
    assert p200.open_po_value_by_currency == {"MXN": None}
    assert "fewer than 3 lines" in p200.open_po_value_withheld["MXN"].reason and p100.open_po_value_withheld == {}
    assert leaked(summary, 1100.0, 100.0, 120.0) == []
    triage = TRIAGE_TOOLS[0].invoke(make_ctx(crafted, AGGREGATE_ONLY), {"supplier_id": "S-1"})
    assert isinstance(triage, TriageResult)
    assert triage.open_value_by_currency == {"USD": None} and "fewer than 3 lines" in triage.message
    assert leaked(triage, 22.2, 10604.94) == []
    assert TRIAGE_TOOLS[0].invoke(make_ctx(crafted), {"supplier_id": "S-1"}).open_value_by_currency == {  # type: ignore[union-attr]
        "USD": pytest.approx(10604.94)}
