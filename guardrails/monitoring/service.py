"""The monitoring loop: detect → signal → propose (governed) → approve → act → watch the outcome → escalate.

:meth:`Monitor.run` takes the monitor lock (one run at a time across processes), runs every enabled detector at
every site with that site's thresholds, and for each finding opens a signal or updates the active one on the same
subject. A new signal gets the first action its policy proposes, decided by the gate exactly like a chat request
(:mod:`guardrails.monitoring.proposals`). Signals no longer found are resolved. A signal whose action executed is
watched: the detector's outcome check runs each time; improved → resolved; not improving for the policy's
``watch_runs`` → escalated to the next role. Every run is one audit trace: a ``signal`` event per change and a
``monitor_run`` event with the summary.

An approved request made for a signal is executed when its approver decides (:meth:`Monitor.settle`, called by the
API and the CLI) or, at the latest, by the next run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from guardrails.approvals.governed_actions import durable
from guardrails.approvals.models import RequestStatus
from guardrails.approvals.service import ActionApprovals, Settled
from guardrails.audit.log import AuditKind, AuditLog
from guardrails.audit.trace import AuditSink, Trace
from guardrails.errors import ApprovalError, SignalConflict
from guardrails.monitoring.follow_ups import follow_up_args
from guardrails.monitoring.models import RunSummary, Signal, SignalStatus
from guardrails.monitoring.proposals import propose
from guardrails.monitoring.store import SignalStore
from guardrails.policy.loader import Policy
from guardrails.policy.monitoring import DetectorRule, MonitoringRules
from tools.errors import ToolError
from tools.monitoring import Finding, check_outcome, run_detector
from tools.monitoring.findings import Severity

__all__ = ["MONITOR_USER", "Monitor", "finding_of"]

MONITOR_USER = "jidoka.monitor"
"""The user id of the monitor's own audit events (runs, signal changes)."""
_LEASE = timedelta(minutes=10)
_SEVERITIES: dict[str, Severity] = {"low": "low", "medium": "medium", "high": "high"}
Clock = Callable[[], datetime]


def finding_of(signal: Signal) -> Finding:
    """The finding a signal holds (for the outcome check and the follow-up proposals)."""
    return Finding(detector=signal.detector, subject_key=signal.subject_key, site_id=signal.site_id,
                   severity=_SEVERITIES.get(signal.severity, "medium"), title=signal.title,
                   record_ids=signal.record_ids, figures=dict(signal.figures),
                   as_of=datetime.fromisoformat(signal.as_of), suggested=None)


@dataclass
class _Run:
    trace: Trace
    audit: AuditSink
    summary: dict[str, list[str]]

    def note(self, key: str, value: str) -> None:
        self.summary.setdefault(key, []).append(value)


class Monitor:
    """Runs the detectors and governs what they find (one instance per process; cheap to build)."""

    def __init__(self, *, policy: Policy, rules: MonitoringRules, approvals: ActionApprovals, store: SignalStore,
                 audit: AuditLog, plant: Engine, as_of: Callable[[], datetime], today: date,
                 clock: Clock | None = None) -> None:
        self.policy = policy
        self.rules = rules
        self.approvals = approvals
        self.store = store
        self.audit = audit
        self.plant = plant
        self._as_of = as_of
        self.today = today
        self.clock: Clock = clock or (lambda: datetime.now(UTC))

    # -- one run -----------------------------------------------------------------------------------

    def run(self, *, holder: str | None = None) -> RunSummary:
        """Run every enabled detector once (or skip when another runner holds the lock); audited."""
        run_id = uuid.uuid4().hex
        holder = holder or f"run-{run_id}"
        started = self.clock()
        busy = self.store.acquire(holder, lease=_LEASE)
        trace = Trace(trace_id=run_id, thread_id=None, user_id=MONITOR_USER, policy_hash=self.policy.hash)
        if busy is not None:
            summary = RunSummary(run_id=run_id, status="skipped", started_at=started, holder=busy)
            self.audit.append(trace.event(AuditKind.MONITOR_RUN, summary.to_json()))
            return summary
        try:
            with self.audit.buffer() as buffer:
                run = _Run(trace, buffer, {})
                self._settle_approved(run)
                for site in sorted(self.policy.sites):
                    for rule in self.rules.at(site):
                        self._detect(run, rule, site)
                summary = _summary(run_id, started, run.summary)
                buffer.add(trace.event(AuditKind.MONITOR_RUN, summary.to_json()))
        finally:
            self.store.release(holder)
        return summary

    def _detect(self, run: _Run, rule: DetectorRule, site: str) -> None:
        where = f"{rule.kind}@{site}"
        as_of = self._as_of()
        try:
            with self.plant.connect() as conn:
                findings = run_detector(conn, rule.kind, site_id=site, params=rule.params, as_of=as_of,
                                        today=self.today)
        except (ToolError, ValueError) as exc:  # one broken detector must not stop the others
            run.note("errors", f"{where}: {exc}")
            return
        run.note("detectors_run", where)
        seen = set()
        for finding in findings:
            seen.add(finding.subject_key)
            self._found(run, rule, finding)
        for held in self.store.holding(site, rule.kind):
            if held.subject_key not in seen:  # the old evidence left the detector's window: let the subject go
                self._save(held, holds_subject=False)
        for signal in self.store.signals(sites=[site], active_only=True):
            if signal.detector != rule.kind:
                continue
            if signal.subject_key not in seen:
                self._resolve(run, signal, "no longer detected")
            elif signal.status in (SignalStatus.ACTIONED, SignalStatus.ESCALATED) and signal.outcome.get("since"):
                self._watch(run, rule, signal)

    def _found(self, run: _Run, rule: DetectorRule, finding: Finding) -> None:
        now = self.clock()
        current = self.store.active(finding.subject_key)
        if current is None:
            level, role = self._staffed(rule, finding.site_id)
            signal = Signal(
                signal_id=f"SIG-{uuid.uuid4().hex[:10].upper()}", detector=finding.detector,
                subject_key=finding.subject_key, site_id=finding.site_id, severity=finding.severity,
                title=finding.title, status=SignalStatus.OPEN, level=level, role=role,
                record_ids=tuple(finding.record_ids), figures=dict(finding.figures),
                as_of=finding.as_of.isoformat(), opened_at=now, updated_at=now, rule_id=rule.rule_id)
            if self.store.insert(signal) is None:  # another runner opened it meanwhile
                return
            run.note("opened", signal.signal_id)
            self._event(run, "opened", signal)
            self._propose_next(run, rule, signal, finding)
            return
        if not current.active:  # resolved by its outcome; the detector still sees the old evidence
            self._save(current, seen_runs=current.seen_runs + 1)
            return
        changed = dict(current.figures) != dict(finding.figures) or tuple(current.record_ids) != finding.record_ids
        updated = replace(current, figures=dict(finding.figures), record_ids=tuple(finding.record_ids),
                          as_of=finding.as_of.isoformat(), seen_runs=current.seen_runs + 1, title=finding.title,
                          updated_at=now if changed else current.updated_at)
        try:
            self.store.update(updated, expected=current)
        except SignalConflict:
            return
        if changed:
            run.note("updated", current.signal_id)
            self._event(run, "updated", updated)

    def _propose_next(self, run: _Run, rule: DetectorRule, signal: Signal, finding: Finding) -> Signal:
        """Propose the next action of the rule's list for ``signal`` (none left: advisory); the signal as stored."""
        done = sum(1 for p in signal.proposals if "by" not in p)  # the monitor's own (a person's override has "by")
        if done >= len(rule.propose) or signal.status in (SignalStatus.DISMISSED, SignalStatus.OVERRIDDEN):
            return signal
        action = rule.propose[done]
        with self.plant.connect() as conn:
            follow = follow_up_args(conn, action, finding,
                                    self.approvals.actions.router.triggers(action, {signal.site_id}))
        if follow.args is None:
            entry: dict[str, Any] = {"action": action, "effect": "not_proposed", "rule_id": rule.rule_id,
                                     "reason": follow.note, "request_id": None}
            requests = signal.requests
        else:
            outcome = propose(self.approvals, self.rules, signal_id=signal.signal_id, role=signal.role,
                              site=signal.site_id, action=action, args=follow.args, attempt=len(signal.proposals),
                              trace=run.trace, audit=run.audit)
            entry = outcome.to_json()
            requests = (*signal.requests, outcome.request_id) if outcome.request_id else signal.requests
            if outcome.request_id:
                run.note("proposed", outcome.request_id)
        stored = self._save(signal, proposals=(*signal.proposals, entry), requests=requests)
        self._event(run, "proposal", stored, proposal=entry)
        settled = entry.get("status")
        if settled == "executed":
            stored = self._actioned(run, rule, stored, str(entry["request_id"]))
        return stored

    # -- approvals made for signals ----------------------------------------------------------------

    def settle(self, request_id: str) -> Settled | None:
        """Execute an approved request made for a signal and move the signal on (``None``: no such signal)."""
        signal = self.store.for_request(request_id)
        if signal is None:
            return None
        trace = Trace(trace_id=uuid.uuid4().hex, thread_id=f"signal:{signal.signal_id}", user_id=MONITOR_USER,
                      policy_hash=self.policy.hash)
        with self.audit.buffer() as buffer:
            return self._settle(_Run(trace, buffer, {}), signal, request_id)

    def _settle_approved(self, run: _Run) -> None:
        for signal in self.store.signals(active_only=True):
            for request_id in signal.requests:
                try:
                    status = self.approvals.get(request_id).status
                except ApprovalError:
                    continue
                if status is RequestStatus.APPROVED:
                    self._settle(run, self.store.get(signal.signal_id), request_id)
                    run.note("settled", request_id)

    def _settle(self, run: _Run, signal: Signal, request_id: str) -> Settled:
        request = self.approvals.get(request_id)
        settled = self.approvals.settle(request_id, action=request.action, args=dict(request.args),
                                        requester=request.requester, thread_id=request.thread_id, trace=run.trace,
                                        audit=run.audit)
        if settled.waiting:
            return settled
        marks = [dict(p, status=settled.status) if p.get("request_id") == request_id else dict(p)
                 for p in signal.proposals]
        if marks != [dict(p) for p in signal.proposals]:
            signal = self._save(signal, proposals=tuple(marks))
            self._event(run, "request_" + settled.status, signal, request_id=request_id)
        rule = self.rules.rule(signal.detector, signal.site_id)
        if settled.status == "executed" and rule is not None and signal.outcome.get("request_id") != request_id:
            self._actioned(run, rule, signal, request_id)
        return settled

    def _actioned(self, run: _Run, rule: DetectorRule, signal: Signal, request_id: str) -> Signal:
        status = signal.status if signal.status is SignalStatus.ESCALATED else SignalStatus.ACTIONED
        stored = self._save(signal, status=status, watch=0,
                            outcome={"since": self._as_of().isoformat(), "request_id": request_id, "checks": 0,
                                     "status": "watching"})
        self._event(run, "action_executed", stored, request_id=request_id)
        return self._propose_next(run, rule, stored, finding_of(stored))

    # -- outcomes and escalation -------------------------------------------------------------------

    def _watch(self, run: _Run, rule: DetectorRule, signal: Signal) -> None:
        since = datetime.fromisoformat(str(signal.outcome["since"]))
        with self.plant.connect() as conn:
            outcome = check_outcome(conn, finding_of(signal), params=rule.params, since=since, as_of=self._as_of(),
                                    today=self.today)
        checks = int(signal.outcome.get("checks", 0)) + 1
        body = {**signal.outcome, "checks": checks, "status": outcome.status, "figures": dict(outcome.figures),
                "note": outcome.note}
        if outcome.status == "improved":
            self._resolve(run, replace(signal, outcome=body, holds_subject=True), f"outcome improved: {outcome.note}")
            return
        watched = self.store.watch_runs(signal.signal_id) + (outcome.status == "not_improving")
        roles = rule.roles()
        if outcome.status == "not_improving" and watched >= self.rules.watch(signal.site_id) \
                and signal.level + 1 < len(roles):
            level = signal.level + 1
            stored = self._save(signal, status=SignalStatus.ESCALATED, level=level, role=roles[level], outcome=body,
                                watch=0)
            run.note("escalated", signal.signal_id)
            self._event(run, "escalated", stored, note=outcome.note, to_role=roles[level])
            return
        stored = self._save(signal, outcome=body, watch=watched)
        self._event(run, "outcome", stored, note=outcome.note)

    def _resolve(self, run: _Run, signal: Signal, reason: str) -> None:
        now = self.clock()
        stored = self._save(signal, status=SignalStatus.RESOLVED, closed_at=now, closed_reason=reason)
        run.note("resolved", signal.signal_id)
        self._event(run, "resolved", stored, note=reason)

    # -- helpers -----------------------------------------------------------------------------------

    def _staffed(self, rule: DetectorRule, site: str) -> tuple[int, str]:
        """The first of the rule's roles somebody holds at ``site`` (level, role): a signal for a role nobody holds
        there (P200 has no maintenance planner) goes straight to the next one; the owner when none is staffed."""
        for level, role in enumerate(rule.roles()):
            if any(role in user.roles and site in self.policy.user_sites(user) for user in self.policy.users.values()):
                return level, role
        return 0, rule.owner

    def _save(self, signal: Signal, *, watch: int | None = None, **changes: Any) -> Signal:
        current = self.store.get(signal.signal_id)
        updated = replace(signal, updated_at=self.clock(), **changes)
        if updated.updated_at <= current.updated_at:  # a coarse clock: keep the order of writes
            updated = replace(updated, updated_at=current.updated_at + timedelta(microseconds=1))
        return self.store.update(updated, expected=current, watch_runs=watch)

    def _event(self, run: _Run, change: str, signal: Signal, **extra: Any) -> None:
        payload = {"change": change, "signal_id": signal.signal_id, "detector": signal.detector,
                   "site_id": signal.site_id, "status": signal.status.value, "role": signal.role,
                   "level": signal.level, "severity": signal.severity, "title": signal.title,
                   "record_ids": list(signal.record_ids), "figures": dict(signal.figures), "as_of": signal.as_of,
                   "rule_id": signal.rule_id, **extra}
        run.audit.add(run.trace.event(AuditKind.SIGNAL, payload))
        durable(run.audit)  # the signal is already stored: its event must not wait for the end of the run


def _summary(run_id: str, started: datetime, notes: dict[str, list[str]]) -> RunSummary:
    def of(key: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(notes.get(key, [])))

    return RunSummary(run_id=run_id, status="completed", started_at=started, detectors_run=of("detectors_run"),
                      opened=of("opened"), updated=of("updated"), resolved=of("resolved"),
                      escalated=of("escalated"), proposed=of("proposed"), settled=of("settled"), errors=of("errors"))
