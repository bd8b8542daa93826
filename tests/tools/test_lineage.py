"""Lineage of citations: the shipped map fits the schema, every kind of demo record id resolves to its own row, a
record's own timestamp is used only when the tool returned it, and documents carry id, revision and effective date."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.factories import AS_OF, insert, make_ctx
from tests.tools.supply.scm_rows import P100, at, item, lot, seed_lines
from tools.documents import DocumentHit, SearchDocumentsResult
from tools.lineage import DocumentLineage, RecordLineage, citation_lineage
from tools.plant.lineage import LineageMap, LineageMapError, lineage_map
from tools.plant.schema import metadata, table
from tools.supply.projection import forecast_row_id
from tools.supply.transfers import TOOLS as TRANSFER_TOOLS

NOT_RECORDS = {"plant_meta", "action_executions"}


def test_the_shipped_map_places_every_plant_table_in_erp_or_mes() -> None:
    mapping = lineage_map()
    assert set(mapping.systems) == set(metadata.tables) - NOT_RECORDS
    assert {t for t, s in mapping.systems.items() if s == "ERP"} >= {"items", "suppliers", "purchase_orders",
                                                                     "po_lines", "sales_orders", "inventory"}
    assert {t for t, s in mapping.systems.items() if s == "MES"} >= {"lots", "work_orders", "quality_events",
                                                                     "scrap_records", "machines", "assets"}


def _demo_ids(engine: Engine) -> dict[str, tuple[str, dict[str, Any]]]:
    """One real id per citable table of the demo plant, with the primary key of its row."""
    def first(name: str, *columns: str) -> dict[str, Any]:
        t = table(name)
        with engine.connect() as conn:
            row = conn.execute(select(*(t.c[c] for c in columns)).order_by(*(t.c[c] for c in columns))
                               .limit(1)).mappings().one()
        return dict(row)

    ids: dict[str, tuple[str, dict[str, Any]]] = {}
    pl = first("po_lines", "po_id", "line_no")
    ids["po_lines"] = (f"{pl['po_id']}/{pl['line_no']}", pl)
    fc = first("demand_forecast", "site_id", "item_id", "week_start")
    ids["demand_forecast"] = (forecast_row_id(fc["site_id"], fc["item_id"], fc["week_start"]),
                              {**fc, "week_start": fc["week_start"].isoformat()})
    for name, column in (("purchase_orders", "po_id"), ("sales_orders", "so_id"), ("suppliers", "supplier_id"),
                         ("items", "item_id"), ("lots", "lot_id"), ("work_orders", "wo_id"),
                         ("quality_events", "qe_id"),
                         ("production_confirmations", "confirmation_id"), ("scrap_records", "scrap_id"),
                         ("production_lines", "line_id"), ("machines", "machine_id"), ("assets", "asset_id"),
                         ("maintenance_orders", "mo_id")):
        row = first(name, column)
        ids[name] = (str(row[column]), row)
    return ids


def test_every_kind_of_demo_record_id_resolves_to_its_own_row(demo_plant: Engine) -> None:
    mapping = lineage_map()
    for name, (record_id, key) in _demo_ids(demo_plant).items():
        found = mapping.resolve(record_id)
        assert found is not None, record_id
        rule, resolved = found
        assert (rule.table, resolved) == (name, key), record_id
        assert rule.system == mapping.systems[name]


@pytest.mark.parametrize(("record_id", "name"), [
    ("SR-000001", "supplier_reviews"), ("SR-NS0001", "scrap_records"), ("PC-NS0001", "production_confirmations"),
    ("PCR-000002", "po_change_requests"), ("TR-000003", "transfers"), ("SPR-000004", "spare_reservations"),
    ("MO-6001", "maintenance_orders"), ("PO-24017/2", "po_lines"), ("PO-24017", "purchase_orders"),
])
def test_ids_written_by_actions_and_the_shift_simulator_resolve(record_id: str, name: str) -> None:
    found = lineage_map().resolve(record_id)
    assert found is not None and found[0].table == name


@pytest.mark.parametrize("record_id", ["SEAL-LEAK", "QP-004", "P100", "PO-24017/x", "XPO-24017"])
def test_codes_and_documents_are_no_plant_records(record_id: str) -> None:
    assert lineage_map().resolve(record_id) is None


def _shipped() -> dict[str, Any]:
    from importlib import resources

    import yaml

    return dict(yaml.safe_load(resources.files("tools.plant").joinpath("lineage.yaml").read_text()))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["systems"].update(CRM=["sites"]), "unknown system"),
    (lambda d: d["systems"]["MES"].append("items"), "placed twice"),
    (lambda d: d["systems"]["ERP"].remove("sites"), "unplaced tables ['sites']"),
    (lambda d: d["records"].insert(0, {"table": "po_lines", "id": r"(?P<po_id>PO-\d+)"}), "primary key"),
    (lambda d: d["records"].append({"table": "suppliers", "id": r"(?P<supplier_id>S-\d+)",
                                    "as_of_column": "notes"}), "cannot be the as-of column"),
    (lambda d: d["records"].append({"table": "po_lines", "id": r"(?P<po_id>PO-\d+)/(?P<line_no>\d+)",
                                    "as_of_column": "need_date"}), "cannot be the as-of column"),
])
def test_a_map_that_does_not_fit_the_schema_is_refused(change: Any, message: str) -> None:
    data = copy.deepcopy(_shipped())
    LineageMap.parse(copy.deepcopy(data))  # the shipped map itself parses
    change(data)
    with pytest.raises(LineageMapError, match=message.replace("[", r"\[").replace("]", r"\]")):
        LineageMap.parse(data)


# ---- lineage from real tool results ---------------------------------------------------------------------------------

WHEN = datetime(2026, 2, 27, 14, 30)


@pytest.fixture
def transfers_plant(blank_plant: Engine) -> Engine:
    seed_lines(blank_plant)
    insert(blank_plant, "items", [item("CP-2039", "component")])
    insert(blank_plant, "lots", [lot("LOT-P100-0001", "CP-2039")])
    insert(blank_plant, "transfers", [
        {"transfer_id": "TR-000001", "item_id": "CP-2039", "lot_id": "LOT-P100-0001", "qty": 10.0,
         "from_site_id": "P100", "from_location": "WH-01", "to_site_id": "P200", "to_location": "WH-05",
         "to_wo_id": None, "transferred_at": WHEN, "request_id": "req-1"},
        {"transfer_id": "TR-000002", "item_id": "CP-2039", "lot_id": "LOT-P100-0001", "qty": 5.0,
         "from_site_id": "P100", "from_location": "WH-01", "to_site_id": "P100", "to_location": "WH-02",
         "to_wo_id": None, "transferred_at": at(-1), "request_id": "req-2"}])
    return blank_plant


def _transfers(engine: Engine) -> dict[str, Any]:
    result = TRANSFER_TOOLS[0].invoke(make_ctx(engine, P100), {"site_id": "P100"})
    assert result.status == "ok"
    return result.model_dump(mode="json")


def test_a_write_once_record_carries_its_own_timestamp_and_others_the_read_time(transfers_plant: Engine) -> None:
    payload = _transfers(transfers_plant)
    lineage = citation_lineage(["TR-000001", "LOT-P100-0001", "CP-2039"], [("transfers", payload)])
    transfer, lot_entry, item_entry = lineage
    assert isinstance(transfer, RecordLineage)
    assert (transfer.system, transfer.table, transfer.record_id, transfer.key) == \
        ("ERP", "transfers", "TR-000001", {"transfer_id": "TR-000001"})
    assert (transfer.as_of, transfer.as_of_source, transfer.as_of_column) == (WHEN, "record", "transferred_at")
    assert isinstance(lot_entry, RecordLineage) and isinstance(item_entry, RecordLineage)
    assert (lot_entry.system, lot_entry.table, lot_entry.as_of, lot_entry.as_of_source) == \
        ("MES", "lots", AS_OF, "read")
    assert (item_entry.system, item_entry.table) == ("ERP", "items")


def test_the_record_timestamp_is_used_only_when_the_tool_returned_it(transfers_plant: Engine) -> None:
    payload = _transfers(transfers_plant)
    for row in payload["rows"]:
        row.pop("transferred_at")  # as a masked or unselected column would be: absent from what the user saw
    (entry,) = citation_lineage(["TR-000001"], [("transfers", payload)])
    assert isinstance(entry, RecordLineage)
    assert (entry.as_of, entry.as_of_source, entry.as_of_column) == (AS_OF, "read", None)
    assert set(entry.model_dump()) == {"kind", "citation", "system", "table", "record_id", "key", "as_of",
                                       "as_of_source", "as_of_column", "tool"}


def test_only_successful_results_that_returned_the_id_give_lineage(transfers_plant: Engine) -> None:
    payload = _transfers(transfers_plant)
    not_found = TRANSFER_TOOLS[0].invoke(make_ctx(transfers_plant), {"lot_id": "LOT-P100-9999"})
    refusal = {"status": "denied", "tool": "transfers", "rule_id": "gate.scope.site", "reason": "TR-000009"}
    results = [("transfers", refusal), ("transfers", not_found.model_dump(mode="json")), ("transfers", payload)]
    lineage = citation_lineage(["TR-000009", "LOT-P100-9999", "TR-000002", "TR-000002"], results)
    assert [e.citation for e in lineage] == ["TR-000002"]  # each citation once, from the result that returned it


def test_a_cited_passage_carries_its_document_revision_and_effective_date() -> None:
    hit = DocumentHit(citation="QP-004 §3", doc_id="QP-004", chunk_id="QP-004:3:abc", title="Quality hold",
                      section="3", heading="Placing the hold", revision="D", effective="2026-01-12",
                      text="Within 4 hours, check the lot genealogy upstream.", score=0.9)
    payload = SearchDocumentsResult(as_of=AS_OF, query="hold", hits=[hit], record_ids=["QP-004 §3"])
    passage, document = citation_lineage(["QP-004 §3", "QP-004", "QP-009 §1"],
                                         [("search_documents", payload.model_dump(mode="json"))])
    assert isinstance(passage, DocumentLineage) and isinstance(document, DocumentLineage)
    assert (passage.doc_id, passage.section, passage.revision, passage.effective, passage.chunk_id) == \
        ("QP-004", "3", "D", "2026-01-12", "QP-004:3:abc")
    assert (document.citation, document.section, document.revision) == ("QP-004", None, "D")


def test_an_id_the_result_holds_outside_its_record_ids_still_has_lineage(transfers_plant: Engine) -> None:
    payload = _transfers(transfers_plant)
    payload["record_ids"] = []  # a truncated list: the rows still hold the id
    (entry,) = citation_lineage(["TR-000002"], [("transfers", payload)])
    assert isinstance(entry, RecordLineage) and entry.as_of_source == "record"
