"""Replaying the audit trail under a draft policy: which recorded decisions the draft would decide otherwise.

Every ``gate_decision`` of a tool call or an action request is decided again with the recorded user id (looked up
in the draft: their roles and sites as the draft has them) and the recorded arguments — a tool call by the draft's
:class:`~guardrails.gate.Gate`, an action request by the draft's action gate and approval routing on the recorded
subject (:mod:`guardrails.whatif._actions`). The recorded decision is the "before"; nothing is executed, nothing
read from the plant, nothing written (the caller appends one ``policy_whatif`` event: :func:`whatif_event`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from guardrails.audit.chain import AuditKind, AuditRecord
from guardrails.gate import Effect, Gate
from guardrails.identity import User, parse_system_requester
from guardrails.locator import RECORD_FIELDS
from guardrails.whatif._actions import ActionReplay, Redecided
from guardrails.whatif.draft import DraftPolicy
from guardrails.whatif.report import DecisionChange, RouteChange, WhatIfReport
from tools.actions.catalog import ActionCatalog
from tools.catalog import Catalog

__all__ = ["PolicyReplay"]

_REPLAYED = frozenset({None, "action"})
"""``gate_decision`` kinds replayed: a tool call (no kind) and an action request; ``publish`` and ``undo`` are
counted as skipped."""


def _site(args: Mapping[str, Any]) -> str | None:
    """The first site a tool call's arguments name."""
    for key, value in args.items():
        if RECORD_FIELDS.get(key) == "site" and value:
            first = value[0] if isinstance(value, (list, tuple)) else value
            return str(first)
    return None


def _route_key(groups: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """What makes two routes the same: each group's roles, site, condition and eligible people, in order."""
    return [(tuple(g.get("roles", ())), g.get("site"), g.get("condition"), tuple(g.get("eligible_user_ids", ())))
            for g in groups]


class PolicyReplay:
    """Re-decides audited tool calls and action requests under one draft (see the module docstring)."""

    def __init__(self, draft: DraftPolicy, catalog: Catalog, actions: ActionCatalog) -> None:
        self.draft = draft
        self.gate = Gate(draft.policy, catalog)
        self.catalog = catalog
        self.actions = ActionReplay(draft, actions)
        self._action_names = frozenset(a.name for a in actions)

    def _user(self, user_id: str) -> User | None:
        policy = self.draft.policy
        return policy.users.get(user_id) or parse_system_requester(user_id, frozenset(policy.roles))

    def _redecide(self, record: AuditRecord, kind: str) -> Redecided:
        payload = record.payload
        user = self._user(record.user_id)
        if user is None:
            return Redecided(Effect.DENY.value, "gate.unknown_user", f"{record.user_id} is not a user of the draft",
                             note="user not in the draft")
        if kind == "action":
            return self.actions.redecide(user, payload, datetime.fromisoformat(record.ts))
        args = payload.get("args")
        decision = self.gate.decide(user, str(payload.get("tool")), args if isinstance(args, Mapping) else {})
        scope = decision.scope.describe() if decision.effect is not Effect.DENY else None
        return Redecided(decision.effect.value, decision.rule_id, decision.reason, scope)

    def run(self, records: Iterable[AuditRecord], *, since: str | None = None) -> WhatIfReport:
        """Replay the gate decisions among ``records`` (seq order) and report what the draft would change."""
        report = WhatIfReport(draft_hash=self.draft.hash, since=since)
        waiting: dict[tuple[str, str], list[DecisionChange | RouteChange]] = {}
        for record in records:
            report.last_seq = record.seq
            if record.kind == AuditKind.APPROVAL_REQUESTED:  # the request a decision opened: name it in the report
                key = (record.trace_id, str(record.payload.get("action")))
                for entry in waiting.pop(key, ()):
                    entry.request_id = str(record.payload.get("request_id"))
                continue
            if record.kind != AuditKind.GATE_DECISION:
                continue
            payload = record.payload
            kind = payload.get("kind")
            if kind not in _REPLAYED:
                report.skipped[str(kind)] += 1
                continue
            kind = "action" if kind == "action" else "tool"
            report.replayed[kind] += 1
            new = self._redecide(record, kind)
            tool = str(payload.get("tool"))
            if new.rule_id == "gate.unknown_user":
                report.missing_users[record.user_id] += 1
            if new.rule_id == "gate.unknown_tool" and tool not in self.catalog and tool not in self._action_names:
                report.unknown_tools[tool] += 1
            entries = self._compare(record, kind, new, report)
            if entries and str(payload.get("effect")) == Effect.NEEDS_APPROVAL.value:
                waiting.setdefault((record.trace_id, tool), []).extend(entries)
        return report

    def _compare(self, record: AuditRecord, kind: str, new: Redecided,
                 report: WhatIfReport) -> list[DecisionChange | RouteChange]:
        """Add what differs between the recorded decision and ``new`` to ``report``; the entries added."""
        payload = record.payload
        old_effect, old_rule = str(payload.get("effect")), str(payload.get("rule_id"))
        old_scope = payload.get("scope") if isinstance(payload.get("scope"), Mapping) else None
        subject = payload.get("subject")
        site = (str(subject.get("site_id")) if isinstance(subject, Mapping) and subject.get("site_id")
                else _site(payload.get("args") or {}))
        tool = str(payload.get("tool"))
        added: list[DecisionChange | RouteChange] = []
        change: str | None = None
        if (old_effect, old_rule) != (new.effect, new.rule_id):
            change = "decision"
        elif new.effect != Effect.DENY.value and new.scope is not None and old_scope != new.scope:
            change = "scope"
        if change is not None:
            entry = DecisionChange(
                seq=record.seq, trace_id=record.trace_id, user_id=record.user_id, tool=tool, kind=kind, site=site,
                old_effect=old_effect, old_rule_id=old_rule, new_effect=new.effect, new_rule_id=new.rule_id,
                new_reason=new.reason, change=change, note=new.note,
                old_scope=old_scope if change == "scope" else None, new_scope=new.scope if change == "scope" else None)
            report.changes.append(entry)
            added.append(entry)
        else:
            report.unchanged += 1
        old_groups = payload.get("approver_groups") or []
        if (kind == "action" and old_effect == new.effect == Effect.NEEDS_APPROVAL.value
                and _route_key(old_groups) != _route_key(new.groups)):
            route = RouteChange(seq=record.seq, trace_id=record.trace_id, user_id=record.user_id, action=tool,
                                site=site, old_rule_id=old_rule, new_rule_id=new.rule_id,
                                old_groups=list(old_groups), new_groups=list(new.groups))
            report.route_changes.append(route)
            added.append(route)
        return added
