"""Lineage through a governed turn (rules model, demo plant): each citation of the answer names its system, table,
record and as-of, checked against the plant's own rows; a record the gate or the scope kept out has none."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from sqlalchemy import Engine, select

from agent.copilot import TurnResult
from agent.rules import RulesChatModel
from agent.scripted import ScriptedChatModel
from tests.agent.graph_helpers import build_copilot
from tools.plant.schema import table


def _plant_as_of(engine: Engine) -> str:
    meta = table("plant_meta")
    with engine.connect() as conn:
        value = conn.execute(select(meta.c.value).where(meta.c.key == "as_of")).scalar_one()
    return datetime.fromisoformat(str(value)).isoformat()


def _row(engine: Engine, name: str, key: dict[str, Any]) -> dict[str, Any] | None:
    t = table(name)
    with engine.connect() as conn:
        row = conn.execute(select(t).where(*(t.c[c] == v for c, v in key.items()))).mappings().first()
    return dict(row) if row else None


def _site(engine: Engine, entry: dict[str, Any]) -> str | None:
    """The site of a cited PO line, lot, work order or quality event (through its PO for a line)."""
    key = entry["key"]
    if entry["table"] == "po_lines":
        key = {"po_id": key["po_id"]}
        row = _row(engine, "purchase_orders", key)
    else:
        row = _row(engine, entry["table"], key)
    return row["site_id"] if row and "site_id" in row else None


def _ask(demo_plant: Engine, tmp_path: Path, model: RulesChatModel, user: str, question: str) -> TurnResult:
    copilot, _ = build_copilot(demo_plant, tmp_path, model, fallback=model)
    return copilot.ask(user, question)


def test_an_erp_purchase_order_answer_cites_po_lines_with_their_lineage(
        demo_plant: Engine, tmp_path: Path, model: RulesChatModel) -> None:
    result = _ask(demo_plant, tmp_path, model, "bea.buyer", "What needs my attention on P100 purchase orders?")
    as_of = _plant_as_of(demo_plant)
    assert result.citations and [e["citation"] for e in result.lineage] == result.citations
    lines = [e for e in result.lineage if e["table"] == "po_lines"]
    assert len(lines) >= 3
    for entry in lines:
        assert entry["kind"] == "record" and entry["system"] == "ERP"
        assert entry["record_id"] == entry["citation"] == f"{entry['key']['po_id']}/{entry['key']['line_no']}"
        assert _row(demo_plant, "po_lines", entry["key"]) is not None  # the key names a real row
        assert _site(demo_plant, entry) == "P100"  # bea.buyer's site: nothing from outside the scope
        assert entry["as_of"] == as_of and entry["as_of_source"] == "read" and entry["as_of_column"] is None
        assert entry["tool"] == "buyer_exception_triage"
        assert entry["citation"] in result.answer
    systems = {e["table"]: e["system"] for e in result.lineage}
    assert systems.get("lots", "MES") == "MES" and systems.get("suppliers", "ERP") == "ERP"


def test_an_mes_quality_answer_cites_quality_events_and_work_orders_with_their_lineage(
        demo_plant: Engine, tmp_path: Path, model: RulesChatModel) -> None:
    result = _ask(demo_plant, tmp_path, model, "quinn.quality", "Show open quality events at P100")
    as_of = _plant_as_of(demo_plant)
    by_table: dict[str, list[dict[str, Any]]] = {}
    for entry in result.lineage:
        by_table.setdefault(entry["table"], []).append(entry)
    assert by_table.get("quality_events") and by_table.get("work_orders"), result.lineage
    for entry in by_table["quality_events"] + by_table["work_orders"] + by_table.get("lots", []):
        assert entry["system"] == "MES" and entry["kind"] == "record"
        assert _site(demo_plant, entry) == "P100"
        assert entry["as_of"] == as_of and entry["as_of_source"] == "read"
        assert entry["tool"] == "quality_events"
    event = by_table["quality_events"][0]
    assert event["key"] == {"qe_id": event["citation"]}
    assert _row(demo_plant, "quality_events", event["key"])["status"] in ("open", "contained")  # type: ignore[index]


def test_a_refused_read_carries_no_lineage(demo_plant: Engine, tmp_path: Path, model: RulesChatModel) -> None:
    denied = _ask(demo_plant, tmp_path, model, "pat.planner", "Show me the open purchase orders at P200.")
    assert [c["decision"] for c in denied.tool_calls] == ["deny"] and denied.lineage == []


def test_a_record_outside_the_scope_or_unknown_is_cited_without_lineage(demo_plant: Engine, tmp_path: Path) -> None:
    """The answer may cite an id the tool was asked about (the grounding check accepts it), but only a record a
    successful result returned gets lineage: not one the scope filtered out, not one that does not exist."""
    po = table("purchase_orders")
    with demo_plant.connect() as conn:
        foreign = str(conn.execute(select(po.c.po_id).where(po.c.site_id == "P200").limit(1)).scalar_one())
        own = str(conn.execute(select(po.c.po_id).where(po.c.site_id == "P100", po.c.status == "sent")
                                .order_by(po.c.po_id).limit(1)).scalar_one())
    model = ScriptedChatModel(script=[
        AIMessage(content="", tool_calls=[
            {"name": "open_po_lines", "args": {"po_id": foreign}, "id": "c1"},
            {"name": "open_po_lines", "args": {"po_id": "PO-99999"}, "id": "c2"},
            {"name": "open_po_lines", "args": {"po_id": own}, "id": "c3"}]),
        AIMessage(content=f"No open lines found for [{foreign}] or [PO-99999]; [{own}] is open.")])
    copilot, _ = build_copilot(demo_plant, tmp_path, model)
    result = copilot.ask("bea.buyer", f"open lines of {foreign}, PO-99999 and {own}?")
    assert [c["decision"] for c in result.tool_calls] == ["allow"] * 3
    assert result.citations == [foreign, "PO-99999", own] and result.unverified == []
    assert [e["citation"] for e in result.lineage] == [own]
    assert result.lineage[0]["table"] == "purchase_orders" and result.lineage[0]["key"] == {"po_id": own}
