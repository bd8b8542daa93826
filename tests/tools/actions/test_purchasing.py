"""request_po_date_change, switch_supplier and open_supplier_review on a private copy of the demo plant."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import TODAY
from tests.tools.actions.helpers import (
    P100,
    P200,
    assert_changed_exactly,
    ctx,
    execute_sql,
    ledger,
    one,
    rows,
    spec,
    state,
)
from tools.errors import ArgumentError, RecordNotFound
from tools.scope import DataScope

DATE = spec("request_po_date_change")
SWITCH = spec("switch_supplier")
REVIEW = spec("open_supplier_review")

OPEN_LINES = ("SELECT pl.po_id, pl.line_no, pl.item_id, pl.qty_ordered, pl.qty_received, pl.promised_date, "
              "pl.original_promised_date, pl.need_date, po.site_id, po.supplier_id, po.buyer_user_id "
              "FROM po_lines pl JOIN purchase_orders po ON po.po_id = pl.po_id WHERE pl.line_status = 'open' "
              "AND po.status IN ('approved', 'sent', 'acknowledged') AND pl.qty_received < pl.qty_ordered ")


def open_line(engine: Engine, where: str = "", **params: Any) -> dict[str, Any]:
    found = rows(engine, OPEN_LINES + where + " ORDER BY pl.po_id, pl.line_no LIMIT 1", **params)
    assert found, "the demo plant has such an open PO line"
    return found[0]


def cost(engine: Engine, item: str) -> float:
    return float(one(engine, "SELECT standard_cost FROM items WHERE item_id = :i", i=item))


# ---------------------------------------------------------------------------- request_po_date_change


def late_line(engine: Engine) -> dict[str, Any]:
    return open_line(engine, "AND po.site_id = 'P100' AND pl.promised_date >= :d", d=TODAY + timedelta(days=5))


def date_args(line: dict[str, Any], new: date) -> dict[str, Any]:
    return {"po_id": line["po_id"], "line_no": line["line_no"], "new_promised_date": new.isoformat(),
            "reason": "expedite for the PK1 shortage"}


def test_po_date_change_subject_execute_replay_undo(plant: Engine) -> None:
    line = late_line(plant)
    execute_sql(plant, "UPDATE po_lines SET original_promised_date = NULL WHERE po_id = :p AND line_no = :n",
                p=line["po_id"], n=line["line_no"])
    promised = date.fromisoformat(str(line["promised_date"])[:10])
    new = promised - timedelta(days=3)
    lid = f"{line['po_id']}/{line['line_no']}"
    subject = DATE.subject(ctx(plant, P100), date_args(line, new))
    assert subject.site_id == "P100" and subject.record_ids == [lid]
    assert subject.pull_in_days == 3 and subject.po_buyer_user_id == line["buyer_user_id"]
    open_qty = line["qty_ordered"] - line["qty_received"]
    assert subject.value_usd == pytest.approx(open_qty * cost(plant, line["item_id"]))
    before = state(plant)

    result = DATE.execute(ctx(plant, P100), date_args(line, new), idempotency_key="request_po_date_change:A",
                          request_id="A")

    assert result.status == "executed"
    after = state(plant)
    assert_changed_exactly(before, after, result)
    assert set(result.record_ids) == {"PCR-000001", lid}
    changed = rows(plant, "SELECT promised_date, original_promised_date FROM po_lines WHERE po_id = :p AND "
                          "line_no = :n", p=line["po_id"], n=line["line_no"])[0]
    assert str(changed["promised_date"])[:10] == new.isoformat()
    assert str(changed["original_promised_date"])[:10] == promised.isoformat()  # the first promise is kept
    request = rows(plant, "SELECT * FROM po_change_requests")
    assert len(request) == 1 and request[0]["change_id"] == "PCR-000001" and request[0]["request_id"] == "A"
    assert str(request[0]["old_promised_date"])[:10] == promised.isoformat()

    assert DATE.execute(ctx(plant, P100), date_args(line, new), idempotency_key="request_po_date_change:A",
                        request_id="A").replayed
    assert state(plant) == after
    assert DATE.compensate(ctx(plant, P100), "request_po_date_change:A").status == "compensated"
    assert state(plant) == before
    assert DATE.compensate(ctx(plant, P100), "request_po_date_change:A").replayed and state(plant) == before


def test_po_date_change_keeps_an_existing_original_promise(plant: Engine) -> None:
    line = late_line(plant)
    original = line["original_promised_date"]
    result = DATE.execute(ctx(plant), date_args(line, TODAY + timedelta(days=1)), idempotency_key="k",
                          request_id="r")
    assert result.status == "executed"
    po_line = next(c for c in result.changed if c.table == "po_lines")
    assert set(po_line.after or {}) == {"promised_date"}
    assert one(plant, "SELECT original_promised_date FROM po_lines WHERE po_id = :p AND line_no = :n",
               p=line["po_id"], n=line["line_no"]) == original


def test_po_date_change_preconditions(plant: Engine) -> None:
    line = late_line(plant)
    promised = date.fromisoformat(str(line["promised_date"])[:10])
    past = DATE.precondition(ctx(plant), date_args(line, TODAY - timedelta(days=1)))
    assert not past.ok and "before today" in past.reason
    same = DATE.precondition(ctx(plant), date_args(line, promised))
    assert not same.ok and "already promised" in same.reason
    args = date_args(line, TODAY + timedelta(days=2))
    assert DATE.precondition(ctx(plant), args).ok
    execute_sql(plant, "UPDATE po_lines SET line_status = 'closed' WHERE po_id = :p AND line_no = :n",
                p=line["po_id"], n=line["line_no"])
    before = state(plant)
    result = DATE.execute(ctx(plant), args, idempotency_key="k", request_id="r")
    assert result.status == "precondition_failed" and "closed" in (result.reason or "")
    assert state(plant) == before


def test_po_date_change_expected_snapshot_and_conflict(plant: Engine) -> None:
    line = late_line(plant)
    args = date_args(line, TODAY + timedelta(days=2))
    approved = DATE.precondition(ctx(plant), args).snapshot
    # The supplier re-promised the line after approval: the approved snapshot no longer holds.
    execute_sql(plant, "UPDATE po_lines SET promised_date = :d WHERE po_id = :p AND line_no = :n",
                d=TODAY + timedelta(days=30), p=line["po_id"], n=line["line_no"])
    stale = DATE.execute(ctx(plant), args, idempotency_key="k1", request_id="r1", expected_snapshot=approved)
    assert stale.status == "precondition_failed" and "po_line.promised_date" in (stale.reason or "")
    fresh = DATE.precondition(ctx(plant), args).snapshot
    done = DATE.execute(ctx(plant), args, idempotency_key="k2", request_id="r2", expected_snapshot=fresh)
    assert done.status == "executed"
    execute_sql(plant, "UPDATE po_lines SET promised_date = :d WHERE po_id = :p AND line_no = :n",
                d=TODAY + timedelta(days=9), p=line["po_id"], n=line["line_no"])
    before = state(plant)
    conflict = DATE.compensate(ctx(plant), "k2")
    assert conflict.status == "compensation_conflict" and "promised_date" in (conflict.reason or "")
    assert state(plant) == before


def test_po_scope(plant: Engine) -> None:
    line = late_line(plant)  # a P100 line
    with pytest.raises(RecordNotFound) as err:
        DATE.subject(ctx(plant, P200), date_args(line, TODAY + timedelta(days=2)))
    assert err.value.ids == [f"{line['po_id']}/{line['line_no']}"]
    with pytest.raises(RecordNotFound):
        SWITCH.execute(ctx(plant, P200), {"po_id": line["po_id"], "line_no": line["line_no"],
                                          "new_supplier_id": line["supplier_id"], "reason": "x" * 5},
                       idempotency_key="k", request_id="r")
    assert ledger(plant) == []


# ---------------------------------------------------------------------------- switch_supplier


ALTERNATIVE = ("AND po.site_id = 'P100' AND pl.qty_received = 0 AND EXISTS (SELECT 1 FROM supplier_prices sp WHERE "
               "sp.item_id = pl.item_id AND sp.supplier_id <> po.supplier_id AND sp.valid_from <= :d AND "
               "sp.valid_to >= :d AND sp.min_qty <= pl.qty_ordered)")


def alternative(engine: Engine, line: dict[str, Any]) -> dict[str, Any]:
    return rows(engine, "SELECT supplier_id, unit_price, currency, valid_from FROM supplier_prices WHERE item_id = :i "
                        "AND supplier_id <> :s AND valid_from <= :d AND valid_to >= :d ORDER BY supplier_id LIMIT 1",
                i=line["item_id"], s=line["supplier_id"], d=TODAY)[0]


def test_switch_supplier_execute_mask_and_undo(plant: Engine) -> None:
    line = open_line(plant, ALTERNATIVE, d=TODAY)
    alt = alternative(plant, line)
    args = {"po_id": line["po_id"], "line_no": line["line_no"], "new_supplier_id": alt["supplier_id"],
            "reason": "current supplier's lot caused the scrap spike"}
    open_qty = line["qty_ordered"] - line["qty_received"]
    subject = SWITCH.subject(ctx(plant, P100), args)
    assert subject.value_usd == pytest.approx(open_qty * cost(plant, line["item_id"]))
    assert subject.po_buyer_user_id == line["buyer_user_id"] and subject.supplier_id == alt["supplier_id"]
    highest = max(int(r["po_id"][3:]) for r in rows(plant, "SELECT po_id FROM purchase_orders"))
    before = state(plant)
    buyer_scope = DataScope.for_sites(["P100"])  # sees prices
    planner_scope = DataScope.for_sites(["P100"], masked=["po_lines.unit_price", "supplier_prices.unit_price",
                                                          "items.standard_cost"])

    result = SWITCH.execute(ctx(plant, buyer_scope), args, idempotency_key="switch_supplier:B", request_id="B")

    assert result.status == "executed", result.reason
    after = state(plant)
    assert_changed_exactly(before, after, result)
    new_po = f"PO-{highest + 1}"
    assert one(plant, "SELECT line_status FROM po_lines WHERE po_id = :p AND line_no = :n",
               p=line["po_id"], n=line["line_no"]) == "cancelled"
    po = rows(plant, "SELECT * FROM purchase_orders WHERE po_id = :p", p=new_po)[0]
    assert (po["supplier_id"], po["site_id"], po["buyer_user_id"], po["status"], po["currency"]) == (
        alt["supplier_id"], "P100", line["buyer_user_id"], "approved", alt["currency"])
    new_line = rows(plant, "SELECT * FROM po_lines WHERE po_id = :p", p=new_po)
    assert len(new_line) == 1 and new_line[0]["qty_ordered"] == pytest.approx(open_qty)
    assert new_line[0]["unit_price"] == pytest.approx(alt["unit_price"]) and new_line[0]["line_status"] == "open"
    assert set(result.record_ids) == {f"{line['po_id']}/{line['line_no']}", new_po, f"{new_po}/1"}
    inserted = next(c for c in result.changed if c.table == "po_lines" and c.before is None)
    assert inserted.after is not None and "unit_price" in inserted.after
    # A caller whose scope hides prices gets the same result without them (the ledger keeps them for undo).
    masked = SWITCH.execute(ctx(plant, planner_scope), args, idempotency_key="switch_supplier:B", request_id="B")
    hidden = next(c for c in masked.changed if c.table == "po_lines" and c.before is None)
    assert masked.replayed and hidden.after is not None and "unit_price" not in hidden.after
    assert hidden.masked_fields == ["unit_price"]

    assert SWITCH.compensate(ctx(plant, planner_scope), "switch_supplier:B").status == "compensated"
    assert state(plant) == before


def test_switch_supplier_price_expired_before_execution(plant: Engine) -> None:
    line = open_line(plant, ALTERNATIVE, d=TODAY)
    alt = alternative(plant, line)
    args = {"po_id": line["po_id"], "line_no": line["line_no"], "new_supplier_id": alt["supplier_id"],
            "reason": "faster supplier"}
    assert SWITCH.precondition(ctx(plant), args).ok
    execute_sql(plant, "UPDATE supplier_prices SET valid_to = :y WHERE supplier_id = :s AND item_id = :i",
                y=TODAY - timedelta(days=1), s=alt["supplier_id"], i=line["item_id"])
    before = state(plant)
    result = SWITCH.execute(ctx(plant), args, idempotency_key="k", request_id="r")
    assert result.status == "precondition_failed" and "no price" in (result.reason or "")
    assert state(plant) == before
    same = SWITCH.precondition(ctx(plant), {**args, "new_supplier_id": line["supplier_id"]})
    assert not same.ok and "already with" in same.reason
    with pytest.raises(RecordNotFound):
        SWITCH.subject(ctx(plant), {**args, "new_supplier_id": "S-999"})


def test_switch_supplier_closes_a_partly_received_line(plant: Engine) -> None:
    line = open_line(plant, ALTERNATIVE, d=TODAY)
    execute_sql(plant, "UPDATE po_lines SET qty_received = 1 WHERE po_id = :p AND line_no = :n",
                p=line["po_id"], n=line["line_no"])
    alt = alternative(plant, line)
    result = SWITCH.execute(ctx(plant), {"po_id": line["po_id"], "line_no": line["line_no"],
                                         "new_supplier_id": alt["supplier_id"], "reason": "late"},
                            idempotency_key="k", request_id="r")
    assert result.status == "executed", result.reason
    old = rows(plant, "SELECT qty_ordered, line_status FROM po_lines WHERE po_id = :p AND line_no = :n",
               p=line["po_id"], n=line["line_no"])[0]
    assert old == {"qty_ordered": 1.0, "line_status": "closed"}


# ---------------------------------------------------------------------------- open_supplier_review


def test_supplier_review_for_the_scrap_spike(plant: Engine, scenarios: dict[str, Any]) -> None:
    spike = scenarios["scrap_spike"]
    args = {"supplier_id": spike["supplier_id"], "reason": "scrap spike on PK1", "lot_ids": [spike["lot_id"]]}
    subject = REVIEW.subject(ctx(plant, P100), args)
    assert subject.site_id == "P100" and subject.value_usd == 0.0
    assert subject.record_ids == [spike["supplier_id"], spike["lot_id"]]
    before = state(plant)
    result = REVIEW.execute(ctx(plant, P100), args, idempotency_key="open_supplier_review:C", request_id="C")
    assert result.status == "executed" and result.record_ids == ["SR-000001"]
    assert_changed_exactly(before, state(plant), result)
    review = rows(plant, "SELECT * FROM supplier_reviews")[0]
    assert (review["supplier_id"], review["site_id"], review["lot_ids"], review["status"]) == (
        spike["supplier_id"], "P100", spike["lot_id"], "open")
    second = REVIEW.precondition(ctx(plant), {**args, "lot_ids": [], "site_id": "P100"})
    assert not second.ok and "SR-000001" in second.reason
    assert REVIEW.compensate(ctx(plant), "open_supplier_review:C").status == "compensated"
    assert state(plant) == before and REVIEW.precondition(ctx(plant), args).ok


def test_supplier_review_checks_its_links(plant: Engine, scenarios: dict[str, Any]) -> None:
    spike = scenarios["scrap_spike"]
    other = one(plant, "SELECT lot_id FROM lots WHERE site_id = 'P100' AND supplier_id IS NOT NULL AND "
                       "supplier_id <> :s LIMIT 1", s=spike["supplier_id"])
    pre = REVIEW.precondition(ctx(plant), {"supplier_id": spike["supplier_id"], "reason": "x" * 5,
                                           "lot_ids": [other]})
    assert not pre.ok and f"lot {other} is not from" in pre.reason
    with pytest.raises(ArgumentError) as err:  # no link and no site: which site opens it?
        REVIEW.subject(ctx(plant), {"supplier_id": spike["supplier_id"], "reason": "x" * 5})
    assert err.value.field == "site_id"
    assert REVIEW.subject(ctx(plant, P100), {"supplier_id": spike["supplier_id"], "reason": "x" * 5}).site_id == "P100"
    with pytest.raises(RecordNotFound):
        REVIEW.subject(ctx(plant, P200), {"supplier_id": spike["supplier_id"], "reason": "x" * 5,
                                          "lot_ids": [spike["lot_id"]]})
    with pytest.raises(RecordNotFound):
        REVIEW.subject(ctx(plant), {"supplier_id": spike["supplier_id"], "reason": "x" * 5, "qe_ids": ["QE-0"]})


@pytest.mark.parametrize(("name", "raw", "field"), [
    ("request_po_date_change", {"po_id": "PO-1", "line_no": 0, "new_promised_date": "2026-04-01", "reason": "abc"},
     "line_no"),
    ("request_po_date_change", {"po_id": "PO-1", "line_no": 1, "new_promised_date": "soon", "reason": "abc"},
     "new_promised_date"),
    ("switch_supplier", {"po_id": "PO-1", "line_no": 1, "reason": "abc"}, "new_supplier_id"),
    ("open_supplier_review", {"supplier_id": "S-1", "reason": "abc", "lot_ids": [""]}, "lot_ids"),
    ("open_supplier_review", {"supplier_id": "S-1", "reason": "abc", "qe_ids": "QE-1"}, "qe_ids"),
])
def test_malformed_arguments_name_the_field(name: str, raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        spec(name).parse_args(raw)
    assert err.value.field == field
