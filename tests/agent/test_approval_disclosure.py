"""Issue 16, finding 2, through the graph: a planner's reallocation that also needs finance (its value is over
$10,000, which the planner may not see) is paused with the same answer as one that does not, and a rejection by
finance reaches the planner without saying that finance decided."""

from __future__ import annotations

import re
from pathlib import Path

from tests.agent.action_cases import execute, scalar
from tests.agent.approvals_helpers import action_harness, relay
from tests.agent.graph_helpers import call

MOVE = "reallocate_inventory"


def _args(qty: int) -> dict[str, object]:
    return {"item_id": "CP-2020", "qty": qty, "from_site_id": "P100", "to_site_id": "P200",
            "reason": "cover the P200 build"}


def test_the_pause_answer_is_the_same_below_and_above_the_threshold_and_a_finance_rejection_is_not_attributed(
        plant_file: Path, tmp_path: Path) -> None:
    h, _ = action_harness(plant_file, tmp_path, call(MOVE, _args(420_000), "c1"), call(MOVE, _args(420_400), "c2"),
                          relay)
    # CP-2020 as in the report: US$0.0238 a nail, and 500,000 more free at P100.
    execute(h.plant, "UPDATE items SET standard_cost = 0.0238 WHERE item_id = 'CP-2020'")
    lot = scalar(h.plant, "SELECT i.lot_id FROM inventory i JOIN lots l ON l.lot_id = i.lot_id WHERE i.item_id = "
                          "'CP-2020' AND i.site_id = 'P100' AND i.stock_status = 'unrestricted' AND l.status = "
                          "'available' ORDER BY i.lot_id LIMIT 1")
    execute(h.plant, "UPDATE inventory SET qty_on_hand = qty_on_hand + 500000 WHERE lot_id = :l AND site_id = "
                     "'P100' AND item_id = 'CP-2020'", l=lot)

    below = h.copilot.ask("pat.planner", "Move 420000 nails to P200.")
    above = h.copilot.ask("pat.planner", "Move 420400 nails to P200.")

    [low], [high] = below.approvals, above.approvals
    assert [len(h.store.get(r["id"]).groups) for r in (low, high)] == [1, 2]  # finance only for the larger one

    def same(text: str, rid: str, qty: int) -> str:
        return re.sub(r"Expires \S+ UTC", "Expires <T> UTC", text.replace(rid, "<ID>").replace(str(qty), "<QTY>"))

    assert same(below.answer, low["id"], 420_000) == same(above.answer, high["id"], 420_400)
    assert "finance at P100 (fay.finance) only if the value is over $10,000" in above.answer
    assert below.tool_calls[0]["rule_id"] == above.tool_calls[0]["rule_id"]

    h.decide(high["id"], "sam.supervisor", "approve")
    h.decide(high["id"], "fay.finance", "reject", "not this quarter")
    done = h.copilot.resume(high["id"])

    assert "rejected" in done.answer and "an approver rejected" in done.answer
    assert "fay.finance" not in done.answer and "finance" not in done.answer.replace("not this quarter", "")
