"""Repeated requests: other requests by the same requester for the same action on the same subject.

A requester who may not see a value can still learn which side of a value threshold a request falls on from
how it progresses once approvers act (see :mod:`guardrails.approvals.disclosure`). Probing that takes several
requests for one action on one subject (same item or record, same sites) with different arguments, close
together. Such requests are shown to the approvers as possible probing — each request lists the others made
within the action's ``similar_within_hours`` (policy ``actions:``) — and each ``approval_requested`` audit event
names the ones made before it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from guardrails.approvals._tables import approval_requests
from guardrails.approvals.models import ApprovalRequest
from guardrails.approvals.routing import ApprovalRouter
from guardrails.approvals.store import ApprovalStore
from guardrails.policy._actions_parse import DEFAULT_SIMILAR_WITHIN_HOURS
from tools.spec import RiskClass

__all__ = ["SimilarRequest", "probing_note", "similar_requests", "similar_window", "subject_key"]

SubjectKey = tuple[str | None, str | None, str | None]


@dataclass(frozen=True)
class SimilarRequest:
    """Another request like a given one: same requester, action and subject, made close to it."""

    id: str
    status: str
    created_at: datetime
    args: Mapping[str, Any]
    """Its arguments (the requester's own; what differs, e.g. the quantity, is what an approver compares)."""

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {"id": self.id, "status": self.status, "created_at": self.created_at.isoformat(),
                "args": dict(self.args)}


def subject_key(subject: Mapping[str, Any]) -> SubjectKey:
    """What makes two requests' subjects the same: site, destination site, and the item (or else the first
    record) the action is about — not the quantity or the lots a quantity happens to take."""
    facts = subject.get("facts")
    facts = facts if isinstance(facts, Mapping) else {}
    records = facts.get("record_ids")
    first = records[0] if isinstance(records, list) and records else None
    thing = facts.get("item_id") or first
    site, to_site = subject.get("site_id"), subject.get("to_site")
    return (str(site) if site else None, str(to_site) if to_site else None, str(thing) if thing else None)


def similar_window(router: ApprovalRouter, request: ApprovalRequest) -> timedelta:
    """How close together requests like ``request`` count as similar: its action's ``similar_within_hours``."""
    rule = router.rule(request.action, str(request.subject.get("site_id") or ""))
    return timedelta(hours=rule.similar_within_hours if rule is not None else DEFAULT_SIMILAR_WITHIN_HOURS)


def similar_requests(store: ApprovalStore, request: ApprovalRequest, *,
                     within: timedelta) -> tuple[SimilarRequest, ...]:
    """Requests (not autonomous runs) by ``request``'s requester for its action on the same subject, created
    within ``within`` before or after it; oldest first."""
    c = approval_requests.c
    stmt = (select(c.id, c.status, c.created_at, c.args_json, c.subject_json)
            .where(c.requester == request.requester, c.action == request.action, c.id != request.id,
                   c.risk_class == RiskClass.APPROVAL.value, c.created_at >= request.created_at - within,
                   c.created_at <= request.created_at + within)
            .order_by(c.created_at, c.id))
    key = subject_key(request.subject)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return tuple(SimilarRequest(r.id, r.status, r.created_at, json.loads(r.args_json)) for r in rows
                 if subject_key(json.loads(r.subject_json)) == key)


def probing_note(request: ApprovalRequest, similar: tuple[SimilarRequest, ...], within: timedelta) -> str | None:
    """A sentence for approvers when ``request`` has similar requests (``None`` when it has none)."""
    if not similar:
        return None
    _, _, thing = subject_key(request.subject)
    about = f" of {thing}" if thing else ""
    hours = within.total_seconds() / 3600
    return (f"Possible probing: {request.requester} made {len(similar) + 1} requests for {request.action}{about} "
            f"within {hours:g} h of each other (also {', '.join(s.id for s in similar)}). Requests that differ "
            "only in quantity can find out which side of a value threshold each falls on; compare them before "
            "deciding.")
