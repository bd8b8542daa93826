"""The arguments of the actions a detector's policy proposes, built from a signal's evidence.

The detector suggests its first action itself (:class:`tools.monitoring.SuggestedAction`); the actions after it
(``propose: [place_quality_hold, open_supplier_review]``) are built here from the evidence and the plant. A
follow-up that needs a policy trigger (a supplier review only over the scrap variance limit) is proposed only
when the evidence crosses it. ``None`` means "nothing to propose for this evidence" (the signal says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from guardrails.policy.triggers import ActionTriggers
from tools.monitoring import Finding
from tools.plant.schema import table

__all__ = ["FollowUp", "follow_up_args"]


@dataclass(frozen=True)
class FollowUp:
    """The arguments for a proposed action, or why none is proposed."""

    args: Mapping[str, Any] | None
    note: str = ""


def _lot_supplier(conn: Connection, record_ids: tuple[str, ...]) -> tuple[str, str] | None:
    lots = table("lots")
    for record_id in record_ids:
        row = conn.execute(select(lots.c.lot_id, lots.c.supplier_id).where(lots.c.lot_id == record_id)).first()
        if row is not None and row.supplier_id:
            return str(row.lot_id), str(row.supplier_id)
    return None


def _asset_spare(conn: Connection, record_ids: tuple[str, ...]) -> tuple[str, str] | None:
    spares = table("spare_parts")
    for record_id in record_ids:
        row = conn.execute(select(spares.c.asset_id, spares.c.item_id).where(spares.c.asset_id == record_id)
                           .order_by(spares.c.item_id).limit(1)).first()
        if row is not None:
            return str(row.asset_id), str(row.item_id)
    return None


def _variance(figures: Mapping[str, Any]) -> float | None:
    """How far the scrap rate is over its baseline (the scrap_spike detector's figures)."""
    rate, baseline = figures.get("scrap_rate"), figures.get("baseline_rate")
    if isinstance(rate, (int, float)) and isinstance(baseline, (int, float)):
        return float(rate) - float(baseline)
    return None


def follow_up_args(conn: Connection, action: str, finding: Finding, triggers: ActionTriggers) -> FollowUp:
    """The arguments of ``action`` for ``finding`` (its own suggestion first), or why there are none."""
    if finding.suggested is not None and finding.suggested.action == action:
        return FollowUp(dict(finding.suggested.args))
    site = finding.site_id
    if action == "open_supplier_review":
        found = _lot_supplier(conn, finding.record_ids)
        if found is None:
            return FollowUp(None, "no supplier lot in the evidence")
        lot_id, supplier_id = found
        limit, variance = triggers.limit("scrap_variance_limit", site), _variance(finding.figures)
        if limit is not None and (variance is None or variance <= limit):
            return FollowUp(None, f"scrap variance {variance if variance is not None else 'unknown'} is not over the "
                                  f"supplier review limit {limit:g} at {site}")
        return FollowUp({"supplier_id": supplier_id, "site_id": site, "lot_ids": [lot_id],
                         "reason": f"monitor: {finding.title}"[:1000]})
    if action == "reserve_spare_parts":
        spare = _asset_spare(conn, finding.record_ids)
        if spare is None:
            return FollowUp(None, "the asset has no spare part on record")
        asset_id, item_id = spare
        return FollowUp({"asset_id": asset_id, "item_id": item_id, "reason": f"monitor: {finding.title}"[:500]})
    if action == "create_maintenance_order":
        asset = next((r for r in finding.record_ids if r.startswith("AS")), None)
        if asset is None:
            return FollowUp(None, "no asset in the evidence")
        return FollowUp({"asset_id": asset, "mo_type": "predictive", "priority": 2,
                         "description": f"monitor: {finding.title}"[:1000]})
    return FollowUp(None, f"the {finding.detector} detector suggested no {action} for this finding (nothing it could "
                          "propose, e.g. no site with free stock to cover it)")
