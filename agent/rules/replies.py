"""The texts of the planner's replies that call no tool: a clarifying question about an ambiguous record, a declined
change, records that do not exist, and what the copilot can look up."""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.entities import Ambiguity

__all__ = ["HELP", "clarify", "decline", "not_found"]


def clarify(ambiguity: Ambiguity) -> str:
    """Which of an ambiguous phrase's candidate records the user means (the question last)."""
    what = {"item": "item", "line": "line", "supplier": "supplier", "machine": "machine", "lot": "lot",
            "asset": "asset"}.get(ambiguity.kind, ambiguity.kind)
    options = "; ".join(f"{cid} ({label})" if label and label != cid else cid
                        for cid, label in ambiguity.candidates)
    return f"Which {what} do you mean by \"{ambiguity.phrase}\": {options}?"


def decline(verb: str) -> str:
    """Why a change the user may not request is not made."""
    return f"I can't {verb} anything: I only read plant data and cannot change records or send anything."


def not_found(ids: Sequence[str]) -> str:
    """The records named that do not exist in the plant."""
    listed = ", ".join(ids)
    return (f"I can't find {listed} in the plant data: no such record exists. Please check the id "
            "(for example the PO, lot or work-order number) and ask again.")


HELP = ("I can look up stock and lots (and a lot's status across MES and ERP), stock projections and items below "
         "reorder point, open and late purchase orders, the buyer exception worklist, supplier scorecards and "
         "alternative suppliers, sales orders and forecast against orders, inter-site transfers, work orders and "
         "those at risk, line performance, down time, machine parameter drift, scrap analysis, quality events, "
         "lot genealogy, assets at risk, maintenance orders and spare parts, and the executive summary with the "
         "ERP/MES reconciliation — within what your role may see.")
