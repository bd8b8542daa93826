"""Lineage in the HTTP chat response: the JSON turn carries it per citation (system, table, record id, as-of), and
the SSE ``citation`` events carry the same lineage for the widget's record card."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from server.api.deps import Services
from tests.server.api.conftest import auth, sse_events

JSON = {"Accept": "application/json"}


def _as_of(client: TestClient) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    with services.runtime.data_engine.connect() as conn:
        return str(conn.execute(text("SELECT value FROM plant_meta WHERE key = 'as_of'")).scalar_one())


def _site_of(client: TestClient, entry: dict[str, Any]) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    sql = {"po_lines": "SELECT p.site_id FROM po_lines l JOIN purchase_orders p ON p.po_id = l.po_id "
                       "WHERE l.po_id = :po_id AND l.line_no = :line_no",
           "quality_events": "SELECT site_id FROM quality_events WHERE qe_id = :qe_id"}[entry["table"]]
    with services.runtime.data_engine.connect() as conn:
        return str(conn.execute(text(sql), entry["key"]).scalar_one())


def test_the_json_turn_carries_erp_lineage_per_cited_po_line(client: TestClient) -> None:
    turn = client.post("/v1/chat", json={"message": "What needs my attention on P100 purchase orders?"},
                       headers={**auth("bea.buyer"), **JSON}).json()
    assert [e["citation"] for e in turn["lineage"]] == turn["citations"] and turn["citations"]
    lines = [e for e in turn["lineage"] if e["table"] == "po_lines"]
    assert lines
    for entry in lines:
        assert (entry["kind"], entry["system"], entry["record_id"]) == ("record", "ERP", entry["citation"])
        assert entry["as_of"].startswith(_as_of(client)[:16]) and entry["as_of_source"] == "read"
        assert _site_of(client, entry) == "P100"


def test_sse_citations_carry_the_same_mes_lineage_as_the_json_turn(client: TestClient) -> None:
    question = {"message": "Show open quality events at P100"}
    events = sse_events(client.post("/v1/chat", json=question, headers=auth("quinn.quality")).text)
    streamed = {d["id"]: d["lineage"] for n, d in events if n == "citation"}
    turn = client.post("/v1/chat", json=question, headers={**auth("quinn.quality"), **JSON}).json()
    assert streamed == {e["citation"]: e for e in turn["lineage"]}
    events_cited = [e for e in turn["lineage"] if e["table"] == "quality_events"]
    assert events_cited
    for entry in events_cited:
        assert (entry["system"], entry["key"]) == ("MES", {"qe_id": entry["citation"]})
        assert entry["tool"] == "quality_events" and _site_of(client, entry) == "P100"
