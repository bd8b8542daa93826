"""``GET /v1/records/{id}``: cited records through the gate, in the caller's scope; ops endpoints and metrics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from server.api.deps import Services
from server.api.limits import RateLimiter
from tests.server.api.conftest import auth

OPEN_LINE = ("SELECT l.po_id || '/' || l.line_no FROM po_lines l JOIN purchase_orders p ON p.po_id = l.po_id "
             "WHERE p.site_id = '{site}' AND l.line_status = 'open' AND p.status IN ('approved', 'sent', "
             "'acknowledged') AND l.qty_received < l.qty_ordered ORDER BY l.po_id, l.line_no")


def _first(client: TestClient, sql: str) -> str:
    """An id from this module's plant (ids are the generator's, not hard-coded)."""
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    with services.runtime.data_engine.connect() as conn:
        return str(conn.execute(text(sql + " LIMIT 1")).scalar_one())


@pytest.mark.parametrize(("user", "sql", "kind", "tool", "key"), [
    ("pat.planner", "SELECT lot_id FROM lots WHERE site_id = 'P100' ORDER BY lot_id", "lot", "lot_genealogy", "lot"),
    ("pat.planner", "SELECT wo_id FROM work_orders WHERE site_id = 'P100' ORDER BY wo_id", "work_order",
     "work_orders", "wo_id"),
    ("pat.planner", "SELECT DISTINCT item_id FROM inventory WHERE site_id = 'P100' ORDER BY item_id", "item",
     "inventory_lookup", "rows"),
    ("bea.buyer", "SELECT supplier_id FROM suppliers ORDER BY supplier_id", "supplier", "supplier_scorecard",
     "supplier_id"),
    ("max.maint", "SELECT asset_id FROM assets WHERE site_id = 'P100' ORDER BY asset_id", "asset", "assets_at_risk",
     "asset_id"),
    ("quinn.quality", "SELECT qe_id FROM quality_events WHERE site_id = 'P100' ORDER BY qe_id", "quality_event",
     "quality_events", "qe_id"),
    ("sam.supervisor", "SELECT line_id FROM production_lines WHERE site_id = 'P100' ORDER BY line_id", "line",
     "line_performance", "line_id"),
    ("sam.supervisor", "SELECT m.machine_id FROM machines m JOIN production_lines l ON l.line_id = m.line_id "
                       "WHERE l.site_id = 'P100' ORDER BY m.machine_id", "machine", "machine_downtime", "by_machine"),
    ("bea.buyer", OPEN_LINE.format(site="P100"), "po_line", "open_po_lines", "open_lines"),
])
def test_a_cited_record_opens_through_the_gate(client: TestClient, user: str, sql: str, kind: str, tool: str,
                                               key: str) -> None:
    record_id = _first(client, sql)
    response = client.get(f"/v1/records/{record_id}", headers=auth(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["kind"], body["tool"]) == (record_id, kind, tool)
    assert record_id in str(body["record"][key])
    assert body["rule_id"].startswith("enterprise.yaml#roles.")
    lineage = body["lineage"]  # read from this governed lookup's own result
    assert (lineage["system"], lineage["table"]) == LINEAGE[kind]
    assert (lineage["record_id"], lineage["tool"], lineage["as_of"]) == (record_id, tool, body["as_of"])


LINEAGE = {"lot": ("MES", "lots"), "work_order": ("MES", "work_orders"), "item": ("ERP", "items"),
           "supplier": ("ERP", "suppliers"), "asset": ("MES", "assets"), "quality_event": ("MES", "quality_events"),
           "line": ("MES", "production_lines"), "machine": ("MES", "machines"), "po_line": ("ERP", "po_lines")}
"""The system and table of each record kind (tools/plant/lineage.yaml)."""


def test_the_record_view_is_scoped_and_masked(client: TestClient) -> None:
    # The buyer sees the PO line's price; the bank account stays masked (finance only); finance sees it.
    line = _first(client, OPEN_LINE.format(site="P100"))
    shown = client.get(f"/v1/records/{line}", headers=auth("bea.buyer")).json()["record"]["open_lines"][0]
    assert isinstance(shown["unit_price"], float)
    supplier = _first(client, "SELECT supplier_id FROM suppliers ORDER BY supplier_id")
    assert client.get(f"/v1/records/{supplier}", headers=auth("bea.buyer")).json()["record"]["bank_account"] is None
    assert client.get(f"/v1/records/{supplier}", headers=auth("fay.finance")).json()["record"]["bank_account"]


@pytest.mark.parametrize(("user", "sql", "status", "why"), [
    # Records at a site outside the caller's scope: the same 404 as an unknown id (below), never "site P200".
    ("pat.planner", "SELECT lot_id FROM lots WHERE site_id = 'P200' ORDER BY lot_id", 404, "in your scope"),
    ("pat.planner", "SELECT wo_id FROM work_orders WHERE site_id = 'P200' ORDER BY wo_id", 404, "in your scope"),
    ("pat.planner", OPEN_LINE.format(site="P200"), 404, "in your scope"),
    ("pat.planner", "SELECT qe_id FROM quality_events WHERE site_id = 'P200' ORDER BY qe_id", 404, "in your scope"),
    # Refusals of the caller's role do not depend on the record: 403 with the rule.
    ("pat.planner", "SELECT supplier_id FROM suppliers ORDER BY supplier_id", 403, "roles.planner.deny_tools"),
    ("ada.auditor", "SELECT lot_id FROM lots ORDER BY lot_id", 403, "gate.default_deny"),
    ("pat.planner", "SELECT 'WO-999999'", 404, "no work order WO-999999 in your scope"),
    ("pat.planner", "SELECT 'LOT-P100-9999'", 404, "in your scope"),
    ("pat.planner", "SELECT 'NOT-A-RECORD-ID'", 404, "detail view"),
    ("pat.planner", "SELECT '%3Cscript%3E'", 404, "detail view"),
])
def test_foreign_unknown_and_refused_records(client: TestClient, user: str, sql: str, status: int,
                                             why: str) -> None:
    record_id = _first(client, sql)
    response = client.get(f"/v1/records/{record_id}", headers=auth(user))
    assert response.status_code == status, response.text
    assert why in response.json()["detail"]


@pytest.mark.parametrize(("foreign_sql", "unknown"), [
    ("SELECT wo_id FROM work_orders WHERE site_id = 'P200' ORDER BY wo_id", "WO-999999"),
    ("SELECT lot_id FROM lots WHERE site_id = 'P200' ORDER BY lot_id", "LOT-P200-9999"),
    ("SELECT qe_id FROM quality_events WHERE site_id = 'P200' ORDER BY qe_id", "QE-999999"),
    (OPEN_LINE.format(site="P200"), "PO-99999/1"),
])
def test_a_foreign_record_and_an_unknown_one_are_indistinguishable(client: TestClient, foreign_sql: str,
                                                                  unknown: str) -> None:
    foreign = _first(client, foreign_sql)
    a = client.get(f"/v1/records/{foreign}", headers=auth("pat.planner"))
    b = client.get(f"/v1/records/{unknown}", headers=auth("pat.planner"))
    assert (a.status_code, b.status_code) == (404, 404)
    assert a.json()["detail"].replace(foreign, "<id>") == b.json()["detail"].replace(unknown, "<id>")
    assert "P200" not in a.json()["detail"].replace(foreign, "")


def test_record_lookups_are_rate_limited_like_chat(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services) and services.record_limiter is not None
    assert services.record_limiter.per_minute == services.settings.rate_limit_per_minute
    wired = services.record_limiter
    services.record_limiter = RateLimiter(3)  # a fresh window: other tests of this module read records too
    try:
        codes = [client.get(f"/v1/records/WO-{900000 + i}", headers=auth("sam.supervisor")).status_code
                 for i in range(4)]
        chat = client.post("/v1/chat", json={"message": "which items are below their reorder point at P100?"},
                           headers={**auth("sam.supervisor"), "Accept": "application/json"})
    finally:
        services.record_limiter = wired
    assert codes == [404, 404, 404, 429]
    assert chat.status_code == 200  # reading citations does not use up the chat turns


def test_record_reads_are_audited(client: TestClient) -> None:
    lot = _first(client, "SELECT lot_id FROM lots WHERE site_id = 'P100' ORDER BY lot_id")
    body = client.get(f"/v1/records/{lot}", headers=auth("quinn.quality")).json()
    trail = client.get("/v1/audit", params={"trace_id": body["trace_id"]}, headers=auth("ada.auditor")).json()
    assert [r["kind"] for r in trail["records"]] == ["gate_decision", "tool_result"]
    assert trail["records"][0]["user_id"] == "quinn.quality"


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["plant_db"] == "ok"
    before = client.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    client.post("/v1/chat", json={"message": "which items are below their reorder point at P100?"},
                headers={**auth("pat.planner"), "Accept": "application/json"})
    client.get("/v1/me")  # a 401
    after = client.get("/metrics").text

    def value(text: str, line: str) -> float:
        found = [row for row in text.splitlines() if row.startswith(line + " ")]
        return float(found[0].split()[-1]) if found else 0.0

    for series in ('jidoka_turns_total{outcome="answered"}', 'jidoka_gate_decisions_total{effect="allow"}',
                   "jidoka_turn_seconds_count", 'jidoka_tool_seconds_count{tool="items_below_reorder"}',
                   'jidoka_http_errors_total{status="401"}'):
        assert value(after, series) == value(before.text, series) + 1, series
    assert 'jidoka_approval_requests{status="pending"}' in after
    assert "jidoka_degraded_turns_total" in after and "jidoka_screening_hits" in after


def test_document_citations_map_to_an_exact_passage() -> None:
    # The knowledge index is not built in these homes (ingesting takes a minute): the mapping is checked on a
    # search result's shape; the route itself was exercised by hand on an ingested home.
    from server.api.records import RECORD_KINDS

    kind = next(k for k in RECORD_KINDS if k.kind == "document")
    match = kind.pattern.match("QP-004 §3")
    assert match is not None and kind.pattern.match("WI-P100-AS1 §4") and not kind.pattern.match("QP-004")
    tool, args, pick = kind.tools[0]
    assert (tool, args(match, None)) == ("search_documents", {"query": "QP-004 §3", "limit": 10})
    hits = {"hits": [{"citation": "QP-004 §1", "text": "a"}, {"citation": "QP-004 §3", "text": "b"}]}
    assert pick(hits, match) == {"citation": "QP-004 §3", "text": "b"}
    assert pick({"hits": [{"citation": "QP-004 §31"}]}, match) is None
    assert all(not k.pattern.match("QP-004 §3") for k in RECORD_KINDS if k.kind != "document")
