"""Typed records of the approval workflow: approver groups, requests, decisions and their statuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from guardrails.identity import User
from tools.spec import RiskClass

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "ApproverGroup",
    "DecisionKind",
    "RequestStatus",
    "utc",
]


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused (its zone cannot be guessed)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"approval times need a timezone-aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class RequestStatus(StrEnum):
    """Where a request is in its life: pending → approved | rejected | expired; approved → executed | failed;
    executed → compensated."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"
    COMPENSATED = "compensated"


class DecisionKind(StrEnum):
    """What one approver said."""

    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class ApproverGroup:
    """One group of a route: any one eligible user of it must approve (all groups of a request must)."""

    roles: tuple[str, ...]
    """Roles that qualify (sorted)."""
    site: str | None
    """The site an approver must hold, or ``None`` when any site will do."""
    eligible_user_ids: tuple[str, ...]
    """Users who may approve for this group, from the policy's users when routed (never the requester)."""
    rule_id: str
    """The policy rule that requires this group (``file#actions.<action>.approvers[i]``)."""
    condition: str | None = None
    """For a group a value rule adds: when it applies (``as the value is over $10,000`` in a route,
    ``only if the value is over $10,000`` in what a requester who may not see the value is told);
    ``None`` for a group every request of the action needs."""

    def admits(self, user: User) -> bool:
        """True when ``user`` was eligible at routing time and still holds a qualifying role and the site."""
        holds_site = self.site is None or user.sites is None or self.site in user.sites
        return user.user_id in self.eligible_user_ids and bool(user.roles & set(self.roles)) and holds_site

    @property
    def label(self) -> str:
        """``production_supervisor at P100``: roles and site, without the condition."""
        roles = " or ".join(self.roles)
        return f"{roles} at {self.site}" if self.site else roles

    def describe(self) -> str:
        """``finance at P100 as the value is over $10,000`` — the label and its condition, for messages."""
        return f"{self.label} {self.condition}" if self.condition else self.label

    def to_json_dict(self) -> dict[str, Any]:
        """The group as stored in ``groups_json`` (``condition`` only when it has one)."""
        out: dict[str, Any] = {"roles": list(self.roles), "site": self.site,
                               "eligible_user_ids": list(self.eligible_user_ids), "rule_id": self.rule_id}
        if self.condition:
            out["condition"] = self.condition
        return out

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> ApproverGroup:
        """Read a group back from ``groups_json``."""
        condition = raw.get("condition")
        return cls(roles=tuple(raw["roles"]), site=raw.get("site"),
                   eligible_user_ids=tuple(raw["eligible_user_ids"]), rule_id=str(raw["rule_id"]),
                   condition=str(condition) if condition else None)


@dataclass(frozen=True)
class ApprovalDecision:
    """One approver's decision on one request."""

    request_id: str
    group_index: int
    """The approver group this decision counts for."""
    approver: str
    """User id of the approver."""
    decision: DecisionKind
    comment: str
    decided_at: datetime
    """Timezone-aware UTC."""

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-friendly view (times as ISO 8601)."""
        return {"request_id": self.request_id, "group_index": self.group_index, "approver": self.approver,
                "decision": self.decision.value, "comment": self.comment,
                "decided_at": self.decided_at.isoformat()}


@dataclass(frozen=True)
class ApprovalRequest:
    """A persisted approval request with its decisions, as read from the state database."""

    id: str
    """``APR-`` (or ``AUT-`` for an autonomous execution) followed by 12 hex digits."""
    thread_id: str
    """The agent thread that paused for this approval (the binding: only it may execute)."""
    trace_id: str
    """The turn that proposed the action."""
    requester: str
    action: str
    args: Mapping[str, Any]
    """The action's arguments as approved (plain JSON values)."""
    args_json: str
    """Canonical JSON text of ``args``; what the hash covers."""
    args_hash: str
    """SHA-256 of ``args_json``."""
    subject: Mapping[str, Any]
    """What routing saw: site, destination site, value and facts."""
    precondition_snapshot: Mapping[str, Any]
    """State of the records to change when the action was proposed."""
    reason: str
    """Why approval is needed, from the route."""
    rule_id: str
    groups: tuple[ApproverGroup, ...]
    status: RequestStatus
    created_at: datetime
    expires_at: datetime
    """First instant the request is no longer valid (pending requests expire at it)."""
    updated_at: datetime
    version: int
    """Bumped by every change; the optimistic concurrency token."""
    result: Mapping[str, Any] | None
    """What execution / compensation recorded, once it ran."""
    decisions: tuple[ApprovalDecision, ...] = ()
    risk_class: RiskClass = RiskClass.APPROVAL
    """``approval`` (routed to approvers) or ``autonomous`` (ran at once under a policy rule: no approver
    groups, recorded so it can be listed, shown and undone)."""

    @property
    def autonomous(self) -> bool:
        """True for the record of an autonomous execution (nobody approves it)."""
        return self.risk_class is RiskClass.AUTONOMOUS

    @property
    def approved_groups(self) -> frozenset[int]:
        """Indexes of groups that already have an approval."""
        return frozenset(d.group_index for d in self.decisions if d.decision is DecisionKind.APPROVE)

    @property
    def open_groups(self) -> tuple[int, ...]:
        """Indexes of groups still waiting for an approval."""
        done = self.approved_groups
        return tuple(i for i in range(len(self.groups)) if i not in done)

    @property
    def last_decision(self) -> ApprovalDecision | None:
        """The newest decision, if any (what an ``approval_decided`` audit event records)."""
        return self.decisions[-1] if self.decisions else None

    def decided_by(self, user_id: str) -> bool:
        """True when ``user_id`` already gave a decision on this request."""
        return any(d.approver == user_id for d in self.decisions)

    def may_decide(self, user: User) -> bool:
        """True when ``user`` could decide now: pending, not the requester, not yet decided, eligible.

        Expiry is the store's job (it turns a past-due request to ``expired`` on read).
        """
        return (self.status is RequestStatus.PENDING and user.user_id != self.requester
                and not self.decided_by(user.user_id)
                and any(self.groups[i].admits(user) for i in self.open_groups))

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-friendly view of the whole request (for ``--json`` output and audit payloads)."""
        return {
            "id": self.id, "thread_id": self.thread_id, "trace_id": self.trace_id,
            "requester": self.requester, "risk_class": self.risk_class,
            "action": self.action, "args": dict(self.args), "args_hash": self.args_hash,
            "subject": dict(self.subject), "precondition_snapshot": dict(self.precondition_snapshot),
            "reason": self.reason, "rule_id": self.rule_id, "groups": [g.to_json_dict() for g in self.groups],
            "status": self.status.value, "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "version": self.version, "result": None if self.result is None else dict(self.result),
            "decisions": [d.to_json_dict() for d in self.decisions],
        }
