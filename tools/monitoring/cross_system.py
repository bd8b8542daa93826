"""``cross_system``: ERP and MES records that contradict each other (the three reconciliation rules of
:mod:`tools.ops._reconciliation`), one finding per disagreement.

Advisory: correcting a lot's stock status, a receipt or a confirmation is a person's job in the ERP.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from sqlalchemy import Connection

from tools.monitoring.findings import Figures, Finding, Outcome, Severity
from tools.ops._reconciliation import Disagreement, find_disagreements
from tools.scope import DataScope

__all__ = ["DEFAULTS", "KIND", "detect", "outcome"]

KIND = "cross_system"
DEFAULTS: Mapping[str, float] = {}

_TITLES = {
    "hold_vs_stock_status": "Held lot {0} still shows usable (unrestricted) stock in the ERP.",
    "wo_completion_vs_receipt": "Work order {0} reports a different completed quantity than its lots received.",
    "po_receipt_vs_lot": "PO line {0} shows a different received quantity than the lots booked against it.",
}


def _key(d: Disagreement) -> str:
    return f"{KIND}:{d.kind}:{d.record_ids[0]}"


def _severity(d: Disagreement) -> Severity:
    if d.kind == "hold_vs_stock_status":
        return "high" if len(d.record_ids) > 1 else "medium"  # usable held stock pegged to a customer order
    return "medium"


def _disagreements(conn: Connection, site_id: str) -> list[Disagreement]:
    return find_disagreements(conn, DataScope.for_sites([site_id]), [site_id])


def detect(conn: Connection, *, site_id: str, params: Mapping[str, float], as_of: datetime,
           today: date) -> list[Finding]:
    """One finding per ERP/MES disagreement at ``site_id`` (rule order, then record id)."""
    return [Finding(
        detector=KIND, subject_key=_key(d), site_id=site_id, severity=_severity(d),
        title=_TITLES[d.kind].format(d.record_ids[0]), record_ids=tuple(d.record_ids),
        figures={"rule": d.kind, "records": len(d.record_ids)}, as_of=as_of, suggested=None)
        for d in _disagreements(conn, site_id)]


def outcome(conn: Connection, finding: Finding, *, params: Mapping[str, float], since: datetime,
            as_of: datetime, today: date) -> Outcome:
    """Improved once the rule no longer finds the disagreement on the finding's record."""
    still = any(_key(d) == finding.subject_key for d in _disagreements(conn, finding.site_id))
    figures: Figures = {"rule": str(finding.figures.get("rule")), "still_disagreeing": int(still)}
    if still:
        return Outcome("not_improving", figures, f"{finding.record_ids[0]} still disagrees between ERP and MES.")
    return Outcome("improved", figures, f"{finding.record_ids[0]} no longer disagrees between ERP and MES.")
