"""The approval store: requests and decisions in the state database, with the workflow's rules enforced.

- Separation of duties: the requester never decides their own request; one
  person gives at most one decision per request; an approver must be eligible
  for an open group (eligible when routed *and* still holding a role and the site).
- Expiry: a pending request at or past ``expires_at`` turns ``expired`` on every
  read and decide; nothing decides or executes it after that.
- Concurrency: a decision reads, checks and writes in one write transaction
  (SQLite ``BEGIN IMMEDIATE``; elsewhere the request row is locked ``FOR UPDATE``)
  and the UPDATE checks ``version``; a caller that read version *n* may pass
  ``expected_version=n`` to refuse deciding on a request that changed since.
- Binding: :meth:`ApprovalStore.verify_binding` (and :meth:`ApprovalStore.executable`,
  which also requires ``approved``) refuses anything but the approved action,
  arguments, requester and thread.

The store writes no audit events; it returns the requests so the caller can
(``approval_requested`` after :meth:`create`, ``approval_decided`` after :meth:`decide`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError

from guardrails.approvals._args import args_hash, canonical_args, to_plain
from guardrails.approvals._tables import (
    approval_decisions,
    approval_metadata,
    approval_requests,
    row_dict,
    to_request,
    upgrade_schema,
    write_transaction,
)
from guardrails.approvals.models import ApprovalRequest, DecisionKind, RequestStatus, utc
from guardrails.approvals.routing import Route, SubjectLike, subject_json
from guardrails.errors import (
    AlreadyDecided,
    ApprovalError,
    BindingMismatch,
    ConcurrentDecision,
    InvalidTransition,
    NotEligible,
    RequestExpired,
    RequestNotFound,
    SeparationOfDuties,
)
from guardrails.gate import Effect
from guardrails.identity import User
from guardrails.policy.loader import Policy
from guardrails.screening import without_controls
from tools.spec import RiskClass

__all__ = ["ApprovalStore", "args_hash", "canonical_args"]

Clock = Callable[[], datetime]

_TRANSITIONS: Mapping[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.EXECUTED: frozenset({RequestStatus.APPROVED}),
    RequestStatus.FAILED: frozenset({RequestStatus.APPROVED}),
    RequestStatus.COMPENSATED: frozenset({RequestStatus.EXECUTED}),
}


def _new_id() -> str:
    return f"APR-{uuid.uuid4().hex[:12].upper()}"


class ApprovalStore:
    """Approval requests in the state database behind ``engine``."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None,
                 id_factory: Callable[[], str] | None = None) -> None:
        """``clock`` gives the current aware time (default: UTC now); ``id_factory`` makes request ids."""
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._new_id = id_factory or _new_id

    @property
    def engine(self) -> Engine:
        """The state database engine."""
        return self._engine

    def _now(self, now: datetime | None) -> datetime:
        return utc(now if now is not None else self._clock())

    def create_schema(self) -> None:
        """Create the approval tables if missing, and add columns an older database lacks (idempotent)."""
        approval_metadata.create_all(self._engine, checkfirst=True)
        upgrade_schema(self._engine)

    def has_schema(self) -> bool:
        """True when both approval tables exist."""
        names = set(inspect(self._engine).get_table_names())
        return {"approval_requests", "approval_decisions"} <= names

    # -- creating ------------------------------------------------------------------------------

    def create(self, *, thread_id: str, trace_id: str, requester: User | str, action: str, args: Any,
               subject: SubjectLike | Mapping[str, Any], route: Route,
               precondition_snapshot: Mapping[str, Any] | None = None,
               now: datetime | None = None) -> ApprovalRequest:
        """Persist a pending request for a ``needs_approval`` ``route`` of ``action`` with ``args``."""
        requester_id = requester if isinstance(requester, str) else requester.user_id
        if route.effect is not Effect.NEEDS_APPROVAL or not route.groups or route.expires_at is None:
            raise ApprovalError(None, f"only a needs_approval route with approver groups becomes a request "
                                      f"(got {route.effect.value} by {route.rule_id})")
        if route.action != action or route.requester_id != requester_id:
            raise ApprovalError(None, f"the route is for {route.action} by {route.requester_id}, "
                                      f"not {action} by {requester_id}")
        return self._insert(thread_id, trace_id, requester_id, action, args, subject, route,
                            precondition_snapshot, self._now(now), RequestStatus.PENDING, utc(route.expires_at))

    def create_autonomous(self, *, thread_id: str, trace_id: str, requester: User | str, action: str, args: Any,
                          subject: SubjectLike | Mapping[str, Any], route: Route,
                          precondition_snapshot: Mapping[str, Any] | None = None,
                          now: datetime | None = None) -> ApprovalRequest:
        """Record an ``allow`` (autonomous) ``route`` about to execute: ``approved`` at once, with no approver
        groups, risk class ``autonomous``; mark it executed (or failed) after the run. Never decidable."""
        requester_id = requester if isinstance(requester, str) else requester.user_id
        if route.effect is not Effect.ALLOW or route.groups:
            raise ApprovalError(None, f"only an allow route without approvers is recorded as autonomous "
                                      f"(got {route.effect.value} by {route.rule_id})")
        moment = self._now(now)
        return self._insert(thread_id, trace_id, requester_id, action, args, subject, route, precondition_snapshot,
                            moment, RequestStatus.APPROVED, moment, risk_class=RiskClass.AUTONOMOUS)

    def _insert(self, thread_id: str, trace_id: str, requester_id: str, action: str, args: Any,
                subject: SubjectLike | Mapping[str, Any], route: Route,
                precondition_snapshot: Mapping[str, Any] | None, moment: datetime, status: RequestStatus,
                expires_at: datetime, *, risk_class: RiskClass = RiskClass.APPROVAL) -> ApprovalRequest:
        if route.action != action or route.requester_id != requester_id:
            raise ApprovalError(None, f"the route is for {route.action} by {route.requester_id}, "
                                      f"not {action} by {requester_id}")
        if not thread_id or not trace_id:
            raise ApprovalError(None, "an approval request needs a thread_id and a trace_id")
        args_json = canonical_args(args)
        request_id = self._new_id()
        subject_plain = to_plain(subject if isinstance(subject, Mapping) else subject_json(subject))
        values = {
            "id": request_id, "thread_id": thread_id, "trace_id": trace_id, "requester": requester_id,
            "action": action, "args_json": args_json,
            "args_hash": hashlib.sha256(args_json.encode("utf-8")).hexdigest(),
            "subject_json": json.dumps(subject_plain, sort_keys=True, ensure_ascii=False),
            "precondition_snapshot_json": json.dumps(to_plain(dict(precondition_snapshot or {})),
                                                     sort_keys=True, ensure_ascii=False),
            "reason": route.reason, "rule_id": route.rule_id,
            "groups_json": json.dumps([g.to_json_dict() for g in route.groups], sort_keys=True),
            "status": status.value, "created_at": moment, "expires_at": expires_at,
            "updated_at": moment, "result_json": None, "version": 1, "risk_class": risk_class,
        }
        with self._engine.begin() as conn:
            conn.execute(approval_requests.insert().values(values))
            return self._load(conn, request_id)

    # -- reading -------------------------------------------------------------------------------

    def _load(self, conn: Connection, request_id: str, *, lock: bool = False) -> ApprovalRequest:
        stmt = select(approval_requests).where(approval_requests.c.id == request_id)
        row = conn.execute(stmt.with_for_update() if lock else stmt).first()
        if row is None:
            raise RequestNotFound(request_id, f"no approval request {request_id!r}")
        stmt_d = (select(approval_decisions).where(approval_decisions.c.request_id == request_id)
                  .order_by(approval_decisions.c.id))
        return to_request(row_dict(row), [row_dict(r) for r in conn.execute(stmt_d)])

    def _expire_if_due(self, conn: Connection, request: ApprovalRequest, now: datetime) -> ApprovalRequest:
        if request.status is not RequestStatus.PENDING or now < request.expires_at:
            return request
        self._set_status(conn, request, RequestStatus.EXPIRED, now)
        return self._load(conn, request.id)

    def get(self, request_id: str, *, now: datetime | None = None) -> ApprovalRequest:
        """The request ``request_id`` (a pending one past its expiry is marked expired first)."""
        moment = self._now(now)
        with self._engine.connect() as conn:
            request = self._load(conn, request_id)
        if request.status is RequestStatus.PENDING and moment >= request.expires_at:
            with write_transaction(self._engine) as conn:
                request = self._expire_if_due(conn, self._load(conn, request_id, lock=True), moment)
        return request

    def list_for(self, user: User, policy: Policy | None = None, *, now: datetime | None = None,
                 limit: int = 200) -> list[ApprovalRequest]:
        """Requests ``user`` may decide now, or requested; newest first.

        With ``policy``, the user is re-read from it, so a stale ``User`` whose role
        was removed no longer sees requests it could once decide.
        """
        if policy is not None:
            user = policy.user(user.user_id)
        self.expire_due(now)
        c = approval_requests.c
        stmt = (select(c.id).where(or_(c.requester == user.user_id, c.status == RequestStatus.PENDING.value))
                .order_by(c.created_at.desc(), c.id.desc()))
        with self._engine.connect() as conn:
            ids = [r[0] for r in conn.execute(stmt)]
            requests = [self._load(conn, i) for i in ids]
        mine = [r for r in requests if r.requester == user.user_id or r.may_decide(user)]
        return mine[:limit]

    def list_all(self, *, status: RequestStatus | None = None, now: datetime | None = None,
                 limit: int = 200) -> list[ApprovalRequest]:
        """Every request (optionally of one status), newest first (operator view)."""
        self.expire_due(now)
        c = approval_requests.c
        stmt = select(c.id).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(c.status == status.value)
        with self._engine.connect() as conn:
            return [self._load(conn, r[0]) for r in conn.execute(stmt).all()]

    # -- deciding ------------------------------------------------------------------------------

    def decide(self, request_id: str, approver: User, decision: DecisionKind | str, comment: str = "",
               now: datetime | None = None, *, expected_version: int | None = None) -> ApprovalRequest:
        """Record ``approver``'s ``decision`` and return the request as it is afterwards.

        ``approved`` once every group has an approval, ``rejected`` on any rejection,
        else still ``pending``. Raises :class:`RequestNotFound`, :class:`RequestExpired`
        (the request is then stored as expired), :class:`AlreadyDecided`,
        :class:`SeparationOfDuties`, :class:`NotEligible` or :class:`ConcurrentDecision`.
        """
        try:
            kind = DecisionKind(decision)
        except ValueError:
            raise ApprovalError(request_id,
                                f"a decision is 'approve' or 'reject', not {decision!r}") from None
        moment = self._now(now)
        expired = False
        try:
            with write_transaction(self._engine) as conn:
                request = self._load(conn, request_id, lock=True)
                if expected_version is not None and request.version != expected_version:
                    raise ConcurrentDecision(request_id, f"{request_id} changed since you read it (version "
                                             f"{expected_version} → {request.version}); read it again")
                if request.status is RequestStatus.PENDING and moment >= request.expires_at:
                    self._set_status(conn, request, RequestStatus.EXPIRED, moment)
                    expired = True
                else:
                    group_index = _check_decider(request, approver)
                    conn.execute(approval_decisions.insert().values(
                        request_id=request_id, group_index=group_index, approver=approver.user_id,
                        decision=kind.value, comment=without_controls(comment), decided_at=moment))
                    approved = request.approved_groups | {group_index}
                    status = (RequestStatus.REJECTED if kind is DecisionKind.REJECT
                              else RequestStatus.APPROVED if len(approved) == len(request.groups)
                              else RequestStatus.PENDING)
                    self._set_status(conn, request, status, moment)
                    request = self._load(conn, request_id)
        except IntegrityError:
            raise ConcurrentDecision(request_id, f"another decision on {request_id} was recorded at the same "
                                                 "time; read the request again") from None
        if expired:  # raised after the commit, so the request stays stored as expired
            raise RequestExpired(request_id, f"{request_id} expired at {request.expires_at.isoformat()}; "
                                             "it can no longer be decided and will not execute")
        return request

    def _set_status(self, conn: Connection, request: ApprovalRequest, status: RequestStatus, now: datetime,
                    result: Mapping[str, Any] | None = None) -> None:
        c = approval_requests.c
        values: dict[str, Any] = {"status": status.value, "updated_at": now, "version": request.version + 1}
        if result is not None:
            values["result_json"] = json.dumps(to_plain(dict(result)), sort_keys=True, ensure_ascii=False)
        stmt = (update(approval_requests).where(c.id == request.id, c.version == request.version)
                .values(values))
        if conn.execute(stmt).rowcount != 1:
            raise ConcurrentDecision(request.id, f"{request.id} was changed by someone else at the same time "
                                                 f"(version {request.version} is gone); read it again")

    def expire_due(self, now: datetime | None = None) -> list[ApprovalRequest]:
        """Mark every pending request at or past its expiry as expired; returns them (for audit)."""
        moment = self._now(now)
        c = approval_requests.c
        due = select(c.id).where(c.status == RequestStatus.PENDING.value, c.expires_at <= moment)
        with self._engine.connect() as conn:
            ids = [r[0] for r in conn.execute(due)]
        expired = []
        for request_id in ids:
            with write_transaction(self._engine) as conn:
                before = self._load(conn, request_id, lock=True)
                after = self._expire_if_due(conn, before, moment)
            if after.status is RequestStatus.EXPIRED and before.status is RequestStatus.PENDING:
                expired.append(after)
        return expired

    # -- executing -----------------------------------------------------------------------------

    def _transition(self, request_id: str, status: RequestStatus, result: Mapping[str, Any],
                    now: datetime | None) -> ApprovalRequest:
        moment = self._now(now)
        with write_transaction(self._engine) as conn:
            request = self._load(conn, request_id, lock=True)
            if request.status not in _TRANSITIONS[status]:
                raise InvalidTransition(request_id, f"{request_id} is {request.status.value}; it cannot "
                                                    f"become {status.value}")
            self._set_status(conn, request, status, moment, result)
            return self._load(conn, request_id)

    def mark_executed(self, request_id: str, result: Mapping[str, Any], *,
                      now: datetime | None = None) -> ApprovalRequest:
        """approved → executed, keeping the action's result."""
        return self._transition(request_id, RequestStatus.EXECUTED, result, now)

    def mark_failed(self, request_id: str, result: Mapping[str, Any], *,
                    now: datetime | None = None) -> ApprovalRequest:
        """approved → failed (e.g. the precondition no longer held), keeping why."""
        return self._transition(request_id, RequestStatus.FAILED, result, now)

    def mark_compensated(self, request_id: str, result: Mapping[str, Any], *,
                         now: datetime | None = None) -> ApprovalRequest:
        """executed → compensated, keeping the compensation's result."""
        return self._transition(request_id, RequestStatus.COMPENSATED, result, now)

    def executable(self, request_id: str, *, action: str, args: Any, requester: User | str, thread_id: str,
                   now: datetime | None = None) -> ApprovalRequest:
        """The request, if it may execute now exactly as given: approved (not pending, expired, executed ...)
        and bound to this action, these arguments, this requester and this thread.

        Raises :class:`RequestNotFound`, :class:`InvalidTransition` or :class:`BindingMismatch`.
        """
        request = self.get(request_id, now=now)
        if request.status is not RequestStatus.APPROVED:
            raise InvalidTransition(request_id, f"{request_id} is {request.status.value}, not approved; "
                                                "nothing executes")
        self.verify_binding(request, action, args, requester, thread_id)
        return request

    @staticmethod
    def verify_binding(request: ApprovalRequest, action: str, args: Any, requester: User | str,
                       thread_id: str) -> None:
        """Raise :class:`BindingMismatch` unless this is exactly what was approved."""
        requester_id = requester if isinstance(requester, str) else requester.user_id
        if action != request.action:
            raise BindingMismatch(request.id, "action", f"{request.id} approved {request.action}, "
                                                        f"not {action}")
        if requester_id != request.requester:
            raise BindingMismatch(request.id, "requester",
                                  f"{request.id} was requested by {request.requester}, not {requester_id}")
        if thread_id != request.thread_id:
            raise BindingMismatch(request.id, "thread_id", f"{request.id} belongs to another thread")
        if args_hash(args) != request.args_hash:
            proposed = json.loads(canonical_args(args))
            changed = sorted(k for k in set(proposed) | set(request.args)
                             if proposed.get(k) != request.args.get(k))
            raise BindingMismatch(request.id, "args", f"the arguments differ from what {request.id} approved "
                                                      f"(changed: {', '.join(changed) or 'value types'})")


def _check_decider(request: ApprovalRequest, approver: User) -> int:
    """The open group ``approver`` decides for; raises when they may not decide."""
    rid = request.id
    if request.status is not RequestStatus.PENDING:
        raise AlreadyDecided(rid, request.status.value,
                             f"{rid} is already {request.status.value}; it can no longer be decided")
    if approver.user_id == request.requester:
        raise SeparationOfDuties(rid, f"{approver.user_id} requested {rid}; the requester can never "
                                      "approve or reject their own request")
    if request.decided_by(approver.user_id):
        raise SeparationOfDuties(rid, f"{approver.user_id} already decided {rid}; one person gives at most "
                                      "one approval of a request")
    candidates = [i for i in request.open_groups if request.groups[i].admits(approver)]
    if not candidates:
        needed = " AND ".join(request.groups[i].describe() for i in request.open_groups)
        raise NotEligible(rid, f"{approver.user_id} may not decide {rid}: it waits for {needed}")
    # The most constrained group first, so a person eligible for several never blocks a scarcer one.
    return min(candidates, key=lambda i: (len(request.groups[i].eligible_user_ids), i))
