"""The typed records of the monitoring loop: a signal, a person's response to it, one run's summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["ACTIVE_STATUSES", "Response", "ResponseKind", "RunSummary", "Signal", "SignalStatus"]


class SignalStatus(StrEnum):
    """Where a signal stands."""

    OPEN = "open"
    """Detected; its proposal (if any) waits for people."""
    ACKNOWLEDGED = "acknowledged"
    """A person has seen it and is on it."""
    ACTIONED = "actioned"
    """An action on it executed; the monitor watches the outcome."""
    ESCALATED = "escalated"
    """The outcome did not improve: it moved to the next role of the policy."""
    OVERRIDDEN = "overridden"
    """A person declined the recommendation (and may have chosen another action)."""
    DISMISSED = "dismissed"
    """A person judged it no problem: kept quiet while the detector still finds it."""
    RESOLVED = "resolved"
    """The condition cleared (no longer detected, or the outcome improved): closed."""


ACTIVE_STATUSES = frozenset(s for s in SignalStatus if s is not SignalStatus.RESOLVED)
"""Statuses of a signal that still holds its subject (a new finding on it updates it)."""


class ResponseKind(StrEnum):
    """What a person may do with a signal (each with a reason, audited)."""

    ACKNOWLEDGE = "acknowledge"
    DISMISS = "dismiss"
    OVERRIDE = "override"


@dataclass(frozen=True)
class Response:
    """One person's response to a signal."""

    kind: ResponseKind
    user_id: str
    reason: str
    at: datetime
    request_id: str | None = None
    """For an override with another action: the request made for it."""
    declined: tuple[str, ...] = ()
    """For an override: the recommendation requests it declined."""

    def to_json(self) -> dict[str, Any]:
        """A JSON view."""
        return {"kind": self.kind.value, "user_id": self.user_id, "reason": self.reason,
                "at": self.at.isoformat(), "request_id": self.request_id, "declined": list(self.declined)}


@dataclass(frozen=True)
class Signal:
    """Something the monitor found on the plant, with its evidence and what became of it."""

    signal_id: str
    detector: str
    subject_key: str
    """The de-duplication key: a new finding with this key updates the active signal instead of opening one."""
    site_id: str
    severity: str
    title: str
    status: SignalStatus
    level: int
    """Index into the detector's roles: 0 = the owner, 1 = the first escalation role ..."""
    role: str
    """The role the signal is with now (the owner, or the role it was escalated to)."""
    record_ids: tuple[str, ...]
    figures: Mapping[str, Any]
    as_of: str
    """The plant as-of time of the figures (ISO)."""
    opened_at: datetime
    updated_at: datetime
    rule_id: str
    requests: tuple[str, ...] = ()
    """Approval requests made for it (the monitor's proposals and a person's override), oldest first."""
    proposals: tuple[Mapping[str, Any], ...] = ()
    """Per proposal: ``{action, effect, rule_id, reason, request_id}`` — including the refused ones."""
    outcome: Mapping[str, Any] = field(default_factory=dict)
    """The latest outcome check after an executed action: ``{status, figures, note, checks}``."""
    responses: tuple[Response, ...] = ()
    closed_at: datetime | None = None
    closed_reason: str = ""
    seen_runs: int = 1
    """Runs that found it."""
    holds_subject: bool = False
    """A resolved signal still holding its subject: its outcome improved while the detector's window still holds the
    old evidence, so the subject opens no new signal until the detector stops finding it (then it is let go)."""

    @property
    def active(self) -> bool:
        """True until it is resolved."""
        return self.status in ACTIVE_STATUSES

    def to_json(self) -> dict[str, Any]:
        """A JSON view (the API and ``jidoka monitor`` show this, after :mod:`guardrails.monitoring.views`)."""
        return {
            "signal_id": self.signal_id, "detector": self.detector, "subject_key": self.subject_key,
            "site_id": self.site_id, "severity": self.severity, "title": self.title, "status": self.status.value,
            "level": self.level, "role": self.role, "record_ids": list(self.record_ids), "figures": dict(self.figures),
            "as_of": self.as_of, "opened_at": self.opened_at.isoformat(), "updated_at": self.updated_at.isoformat(),
            "rule_id": self.rule_id, "requests": list(self.requests), "proposals": [dict(p) for p in self.proposals],
            "outcome": dict(self.outcome), "responses": [r.to_json() for r in self.responses],
            "closed_at": self.closed_at.isoformat() if self.closed_at else None, "closed_reason": self.closed_reason,
            "seen_runs": self.seen_runs, "holds_subject": self.holds_subject,
        }


@dataclass(frozen=True)
class RunSummary:
    """What one monitor run did (also the ``monitor_run`` audit payload)."""

    run_id: str
    status: str
    """``completed``, or ``skipped`` when another process holds the monitor lock."""
    started_at: datetime
    detectors_run: tuple[str, ...] = ()
    """``<kind>@<site>`` for every detector run."""
    opened: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    escalated: tuple[str, ...] = ()
    proposed: tuple[str, ...] = ()
    """Request ids created (approval requests and autonomous executions)."""
    settled: tuple[str, ...] = ()
    """Approved requests this run executed."""
    holder: str = ""
    """For a skipped run: who holds the lock."""
    errors: tuple[str, ...] = ()
    """Detectors that failed (``<kind>@<site>: reason``); the others still ran."""

    def to_json(self) -> dict[str, Any]:
        """The ``monitor_run`` audit payload and ``jidoka monitor run --json``."""
        return {"run_id": self.run_id, "status": self.status, "started_at": self.started_at.isoformat(),
                "detectors_run": list(self.detectors_run), "opened": list(self.opened),
                "updated": list(self.updated), "resolved": list(self.resolved), "escalated": list(self.escalated),
                "proposed": list(self.proposed), "settled": list(self.settled), "holder": self.holder,
                "errors": list(self.errors)}
