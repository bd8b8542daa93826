"""The chat path of issue 16, finding 1: eve.exec asks for the open value of a PO with one open line.

Through the whole copilot (rules model, gate, tool, grounding, output screening) the answer must say why the
total is withheld instead of printing it: printed next to the line's open qty, it would be the line's price.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import Engine, text

from agent.grounding import check_grounding, collect_evidence
from agent.rules import RulesChatModel
from agent.rules.answers import compose_answer
from agent.rules.entities import Entities
from agent.rules.focus import Focus, ToolOutput
from agent.rules.localize import localize
from tests.agent.graph_helpers import build_copilot

ONE_LINE_POS = """
    SELECT po.po_id, pl.line_no, po.currency, (pl.qty_ordered - pl.qty_received) * pl.unit_price, pl.unit_price
    FROM po_lines pl JOIN purchase_orders po ON po.po_id = pl.po_id
    WHERE pl.line_status = 'open' AND po.status IN ('approved', 'sent', 'acknowledged')
      AND pl.qty_received < pl.qty_ordered
      AND po.po_id IN (SELECT p2.po_id FROM po_lines p2 JOIN purchase_orders q2 ON q2.po_id = p2.po_id
                       WHERE p2.line_status = 'open' AND q2.status IN ('approved', 'sent', 'acknowledged')
                         AND p2.qty_received < p2.qty_ordered GROUP BY p2.po_id HAVING COUNT(*) = 1)
    ORDER BY po.po_id"""


def _figures(answer: str) -> list[float]:
    return [float(f.replace(",", "")) for f in re.findall(r"(?<![\w.-])\d[\d,]*(?:\.\d+)?", answer)]


def test_eve_asking_the_open_value_of_a_one_line_po_is_told_why_it_is_withheld(
        demo_plant: Engine, model: RulesChatModel, tmp_path: Path) -> None:
    with demo_plant.connect() as conn:
        row = conn.execute(text(ONE_LINE_POS)).first()
    assert row is not None, "the demo plant has no PO with exactly one open line"
    po_id, line_no, currency, value, price = row
    copilot, _ = build_copilot(demo_plant, tmp_path, model)

    turn = copilot.ask("eve.exec", f"What is the open value of {po_id}?")
    assert [(c["name"], c["args"], c["decision"]) for c in turn.tool_calls] == [
        ("open_po_lines", {"po_id": po_id}, "allow")]
    assert f"The {currency} open value is withheld: fewer than 3 lines contribute (policy min_group" in turn.answer
    assert "Open value:" not in turn.answer, turn.answer
    assert not [f for f in _figures(turn.answer) if abs(f - value) < 0.01 or abs(f - price) < 0.0001], turn.answer
    assert turn.unverified == [] and f"{po_id}/{line_no}" in turn.citations

    finance = copilot.ask("fay.finance", f"What is the open value of {po_id}?")
    assert f"Open value: {currency} " in finance.answer and "withheld" not in finance.answer


def test_the_executive_summary_answer_says_why_a_site_total_is_withheld() -> None:
    reason = ("withheld: fewer than 3 lines contribute (policy min_group for po_lines.unit_price); a figure over so "
              "few lines would reveal a line's unit_price")
    site = {"site_id": "P200", "site_name": "Monterrey Components", "open_work_orders": 4, "late_work_orders": 1,
            "availability": 0.5, "good_qty": 90.0, "scrap_qty": 10.0, "scrap_rate": 0.1, "open_quality_events": {},
            "open_po_lines": 2, "past_due_po_lines": 0, "open_po_value_by_currency": {"MXN": None, "USD": 5400.5},
            "open_po_value_withheld": {"MXN": {"field": "po_lines.unit_price", "rows": 2, "min_group": 3,
                                               "reason": reason}},
            "assets_at_risk": [], "reconciliation_issues": 0}
    result = {"status": "ok", "as_of": "2026-03-02T06:00:00", "record_ids": ["P200"], "period_start": "2026-02-24",
              "period_end": "2026-03-02", "sites": [site], "reconciliation": []}
    text = compose_answer([ToolOutput("executive_summary", {}, json.dumps(result))], Focus("", Entities()))
    assert f"2 open PO lines (0 past due) worth USD 5,400.5 (the MXN open PO value is {reason})" in text, text
    assert "None" not in text and "n/a" not in text
    assert check_grounding(text, collect_evidence([json.dumps(result)])).unverified == ()
    spanish = localize(text, "es")
    assert "se omite: contribuyen menos de 3 líneas" in spanish and "withheld" not in spanish, spanish
