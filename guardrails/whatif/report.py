"""What a policy what-if found: the decisions and approval routes that would change, and the audit event that
records the run (``policy_whatif``)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardrails.audit.chain import AuditEvent, AuditKind

__all__ = ["DecisionChange", "RouteChange", "WhatIfReport", "whatif_event"]


@dataclass
class DecisionChange:
    """One recorded decision the draft would decide otherwise.

    ``change`` is ``decision`` (another effect or rule) or ``scope`` (same effect and rule, another data scope:
    fewer sites, a field now masked...)."""

    seq: int
    trace_id: str
    user_id: str
    tool: str
    kind: str
    """``tool`` (a read tool call) or ``action`` (an action request)."""
    site: str | None
    """The site the call named (a tool's site argument, an action's subject site); ``None`` when it named none."""
    old_effect: str
    old_rule_id: str
    new_effect: str
    new_rule_id: str
    new_reason: str
    change: str = "decision"
    old_scope: Mapping[str, Any] | None = None
    new_scope: Mapping[str, Any] | None = None
    request_id: str | None = None
    """The approval request the recorded decision opened, when it opened one."""
    note: str | None = None
    """Why the replay could not decide it all the way (``user not in the draft``...), when it could not."""

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly view (``None`` fields left out)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class RouteChange:
    """An action request that would go to other approvers (other roles, sites, eligible people or rule)."""

    seq: int
    trace_id: str
    user_id: str
    action: str
    site: str | None
    old_rule_id: str
    new_rule_id: str
    old_groups: Sequence[Mapping[str, Any]]
    new_groups: Sequence[Mapping[str, Any]]
    request_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly view (``None`` fields left out)."""
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in self.__dict__.items()
                if v is not None}


@dataclass
class WhatIfReport:
    """The replay of an audit trail under a draft policy."""

    draft_hash: str
    since: str | None = None
    replayed: Counter[str] = field(default_factory=Counter)
    """Decisions replayed per kind (``tool``, ``action``)."""
    unchanged: int = 0
    changes: list[DecisionChange] = field(default_factory=list)
    route_changes: list[RouteChange] = field(default_factory=list)
    missing_users: Counter[str] = field(default_factory=Counter)
    """Users the trail names that the draft does not know, with how many of their decisions were replayed."""
    unknown_tools: Counter[str] = field(default_factory=Counter)
    """Tools and actions the trail names that the catalog no longer has, with how many decisions."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Gate decisions of other kinds (document publishing, undo), counted but not replayed."""
    last_seq: int | None = None
    """The newest audit seq read."""

    def by_rule(self) -> list[dict[str, Any]]:
        """Decision changes grouped by (old rule → new rule, old effect → new effect), largest group first."""
        groups = Counter((c.old_rule_id, c.new_rule_id, c.old_effect, c.new_effect, c.change) for c in self.changes)
        return [{"old_rule_id": o, "new_rule_id": n, "old_effect": oe, "new_effect": ne, "change": ch, "count": k}
                for (o, n, oe, ne, ch), k in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))]

    def summary(self) -> dict[str, Any]:
        """The counts: what the ``policy_whatif`` audit event records (no per-decision detail)."""
        return {"replayed": sum(self.replayed.values()), "replayed_by_kind": dict(sorted(self.replayed.items())),
                "unchanged": self.unchanged,
                "changed": sum(1 for c in self.changes if c.change == "decision"),
                "scope_changed": sum(1 for c in self.changes if c.change == "scope"),
                "route_changed": len(self.route_changes),
                "by_rule": self.by_rule(), "missing_users": dict(sorted(self.missing_users.items())),
                "unknown_tools": dict(sorted(self.unknown_tools.items())),
                "skipped": dict(sorted(self.skipped.items())), "last_seq": self.last_seq}

    def to_json(self) -> dict[str, Any]:
        """The whole report: the summary, every change and every route change."""
        return {"draft_hash": self.draft_hash, "since": self.since, "summary": self.summary(),
                "changes": [c.to_json() for c in self.changes],
                "route_changes": [r.to_json() for r in self.route_changes]}


def whatif_event(runner: str, report: WhatIfReport, *, via: str, policy_hash: str = "") -> AuditEvent:
    """The ``policy_whatif`` event of one run, in a trace of its own: who ran it (``runner``), through what
    (``via``: ``cli`` or ``api``), which draft (its hash), since when, and the summary counts. Appended after the
    replay, so a run never replays its own event."""
    return AuditEvent(trace_id=uuid.uuid4().hex, thread_id=None, user_id=runner, kind=AuditKind.POLICY_WHATIF,
                      payload={"via": via, "draft_hash": report.draft_hash, "since": report.since,
                               **report.summary()},
                      policy_hash=policy_hash)
