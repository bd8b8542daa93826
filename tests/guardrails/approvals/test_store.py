"""The approval store: lifecycle, separation of duties, expiry, concurrency and binding."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from guardrails.approvals._tables import approval_decisions
from guardrails.approvals.models import ApprovalRequest, ApproverGroup, DecisionKind, RequestStatus
from guardrails.approvals.routing import ApprovalRouter, Route, RoutingSubject
from guardrails.approvals.store import ApprovalStore, args_hash
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
from tests.policy_helpers import shipped_policy
from tools.plant.db import make_engine

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
POLICY = shipped_policy()
ROUTER = ApprovalRouter(POLICY)
HOLD_ARGS = {"lot_id": "LOT-P100-0423", "include_open_work_orders": True, "reason": "scrap spike on PK1"}


def user(user_id: str) -> User:
    return POLICY.user(user_id)


@pytest.fixture
def engine(state_url: str) -> Iterator[Engine]:
    """The state database on each backend (SQLite and Postgres)."""
    eng = make_engine(state_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> ApprovalStore:
    s = ApprovalStore(engine, clock=lambda: T0)
    s.create_schema()
    return s


def open_request(store: ApprovalStore, action: str = "place_quality_hold", requester: str = "pat.planner",
                 args: dict[str, Any] | None = None, *, now: datetime = T0,
                 **subject: Any) -> ApprovalRequest:
    subj = RoutingSubject(site_id=subject.pop("site_id", "P100"), **subject)
    route = ROUTER.route(action, user(requester), subj, now=now)
    assert route.effect is Effect.NEEDS_APPROVAL, route
    return store.create(thread_id="th-1", trace_id="tr-1", requester=user(requester), action=action,
                        args=HOLD_ARGS if args is None else args, subject=subj, route=route,
                        precondition_snapshot={"lot_status": "released"}, now=now)


def test_create_and_get_round_trip(store: ApprovalStore) -> None:
    req = open_request(store)
    assert req.id.startswith("APR-") and len(req.id) == 16
    assert req.status is RequestStatus.PENDING and req.version == 1
    assert req.created_at == T0 and req.created_at.tzinfo is not None
    assert req.expires_at == T0 + timedelta(hours=24)
    assert req.args == HOLD_ARGS
    assert req.args_hash == args_hash(dict(reversed(list(HOLD_ARGS.items()))))  # key order is irrelevant
    assert req.subject["site_id"] == "P100" and req.precondition_snapshot == {"lot_status": "released"}
    assert [g.eligible_user_ids for g in req.groups] == [("quinn.quality", "sam.supervisor")]
    assert req.rule_id == "enterprise.yaml#actions.place_quality_hold.approvers"
    again = store.get(req.id)
    assert again == req
    with pytest.raises(RequestNotFound, match="APR-NOPE"):
        store.get("APR-NOPE")


def test_only_needs_approval_routes_become_requests(store: ApprovalStore) -> None:
    allow = ROUTER.route("reserve_spare_parts", user("max.maint"),
                         RoutingSubject("P100", facts={"asset_criticality": "A"}), now=T0)
    assert allow.effect is Effect.ALLOW
    with pytest.raises(ApprovalError, match="only a needs_approval route"):
        store.create(thread_id="th", trace_id="tr", requester="max.maint", action="reserve_spare_parts",
                     args={}, subject=RoutingSubject("P100"), route=allow)
    route = ROUTER.route("place_quality_hold", user("pat.planner"), RoutingSubject("P100"), now=T0)
    with pytest.raises(ApprovalError, match="not release_quality_hold"):
        store.create(thread_id="th", trace_id="tr", requester="pat.planner", action="release_quality_hold",
                     args={}, subject=RoutingSubject("P100"), route=route)


def test_single_group_approval(store: ApprovalStore) -> None:
    req = open_request(store)
    later = T0 + timedelta(hours=1)
    done = store.decide(req.id, user("sam.supervisor"), DecisionKind.APPROVE, "contain it", later)
    assert done.status is RequestStatus.APPROVED and done.version == 2
    assert done.last_decision is not None
    assert (done.last_decision.approver, done.last_decision.group_index, done.last_decision.comment) == \
        ("sam.supervisor", 0, "contain it")
    assert done.last_decision.decided_at == T0 + timedelta(hours=1)
    # Another eligible approver comes too late; so does the same one.
    with pytest.raises(AlreadyDecided, match="already approved") as info:
        store.decide(req.id, user("quinn.quality"), "approve")
    assert info.value.status == "approved"
    with pytest.raises(AlreadyDecided):
        store.decide(req.id, user("sam.supervisor"), "approve")
    assert store.get(req.id).version == 2


def test_two_groups_need_two_people(store: ApprovalStore) -> None:
    req = open_request(store, "reallocate_inventory", "pat.planner", {"item_id": "RM-1", "qty": 500},
                       value_usd=12500, to_site="P200")
    assert [g.eligible_user_ids for g in req.groups] == [("sam.supervisor",), ("fay.finance",)]
    half = store.decide(req.id, user("fay.finance"), "approve")
    assert half.status is RequestStatus.PENDING and half.open_groups == (0,)
    with pytest.raises(SeparationOfDuties, match="at most one approval"):
        store.decide(req.id, user("fay.finance"), "approve")
    with pytest.raises(NotEligible, match="production_supervisor at P100"):
        store.decide(req.id, user("sol.supervisor"), "approve")  # a supervisor, but of the other site
    full = store.decide(req.id, user("sam.supervisor"), "approve")
    assert full.status is RequestStatus.APPROVED and full.version == 3
    assert {d.approver for d in full.decisions} == {"fay.finance", "sam.supervisor"}


def test_one_person_cannot_fill_both_groups(store: ApprovalStore) -> None:
    both = User("dual.role", "Dual Role", frozenset({"production_supervisor", "finance"}), None)
    route = Route(Effect.NEEDS_APPROVAL, "test#groups", "needs two", "reallocate_inventory", "pat.planner",
                  (ApproverGroup(("production_supervisor",), "P100", ("dual.role", "sam.supervisor"), "g0"),
                   ApproverGroup(("finance",), "P100", ("dual.role", "fay.finance"), "g1")),
                  T0 + timedelta(hours=24))
    req = store.create(thread_id="th", trace_id="tr", requester="pat.planner", action="reallocate_inventory",
                       args={"qty": 1}, subject={"site_id": "P100"}, route=route)
    store.decide(req.id, both, "approve")
    with pytest.raises(SeparationOfDuties, match="one person gives at most one approval"):
        store.decide(req.id, both, "approve")
    assert store.get(req.id).status is RequestStatus.PENDING


def test_requester_can_never_decide(store: ApprovalStore) -> None:
    req = open_request(store, requester="quinn.quality")
    # Even a forged User that claims eligibility cannot approve their own request.
    for decision in ("approve", "reject"):
        with pytest.raises(SeparationOfDuties, match="requester can never"):
            store.decide(req.id, user("quinn.quality"), decision)
    assert store.get(req.id).decisions == ()


def test_ineligible_approvers_are_refused(store: ApprovalStore) -> None:
    req = open_request(store)
    with pytest.raises(NotEligible, match=r"bea\.buyer may not decide"):
        store.decide(req.id, user("bea.buyer"), "approve")
    # Eligible when routed, but no longer holds a qualifying role: refused.
    demoted = User("sam.supervisor", "Sam", frozenset({"planner"}), frozenset({"P100"}))
    with pytest.raises(NotEligible):
        store.decide(req.id, demoted, "approve")
    # Holds the role but was not eligible when routed (not in the group's list).
    newcomer = User("new.super", "New", frozenset({"production_supervisor"}), frozenset({"P100"}))
    with pytest.raises(NotEligible):
        store.decide(req.id, newcomer, "approve")
    with pytest.raises(ApprovalError, match="'approve' or 'reject'"):
        store.decide(req.id, user("sam.supervisor"), "maybe")
    assert store.get(req.id).status is RequestStatus.PENDING


def test_reject_ends_the_request(store: ApprovalStore) -> None:
    req = open_request(store, "switch_supplier", "bea.buyer",
                       {"po_line": "PO-24017/2", "supplier_id": "S-014"})
    store.decide(req.id, user("fay.finance"), "approve")
    rejected = store.decide(req.id, user("ben.buyer"), "reject", "price not agreed")
    assert rejected.status is RequestStatus.REJECTED
    with pytest.raises(InvalidTransition, match="rejected"):
        store.mark_executed(req.id, {"status": "ok"})


def test_expiry(store: ApprovalStore) -> None:
    req = open_request(store)
    just_before = req.expires_at - timedelta(microseconds=1)
    assert store.get(req.id, now=just_before).status is RequestStatus.PENDING
    with pytest.raises(RequestExpired, match="expired"):
        store.decide(req.id, user("sam.supervisor"), "approve", now=req.expires_at)
    expired = store.get(req.id, now=req.expires_at)
    assert expired.status is RequestStatus.EXPIRED and expired.decisions == ()
    with pytest.raises(AlreadyDecided, match="expired"):
        store.decide(req.id, user("sam.supervisor"), "approve", now=req.expires_at)
    with pytest.raises(InvalidTransition):
        store.mark_executed(req.id, {})


def test_expiry_on_read_and_in_bulk(store: ApprovalStore) -> None:
    first = open_request(store)
    second = open_request(store, now=T0 + timedelta(hours=2))
    assert store.get(first.id, now=T0 + timedelta(hours=25)).status is RequestStatus.EXPIRED
    assert store.expire_due(T0 + timedelta(hours=25)) == []  # second still has an hour
    gone = store.expire_due(T0 + timedelta(hours=26))
    assert [r.id for r in gone] == [second.id] and gone[0].status is RequestStatus.EXPIRED
    assert store.list_for(user("sam.supervisor"), now=T0 + timedelta(hours=26)) == []


def test_list_for(store: ApprovalStore) -> None:
    hold = open_request(store)  # by pat: quinn or sam
    switch = open_request(store, "switch_supplier", "bea.buyer", {"po_line": "PO-24017/2"})  # ben AND fay
    ids = lambda u: {r.id for r in store.list_for(user(u))}  # noqa: E731
    assert ids("pat.planner") == {hold.id}
    assert ids("sam.supervisor") == {hold.id}
    assert ids("fay.finance") == {switch.id}
    assert ids("bea.buyer") == {switch.id}  # requested it, may not decide it
    assert ids("eve.exec") == set()
    store.decide(hold.id, user("quinn.quality"), "approve")
    assert ids("sam.supervisor") == set()
    assert ids("quinn.quality") == set()
    assert ids("pat.planner") == {hold.id}
    store.decide(switch.id, user("fay.finance"), "approve")
    assert ids("fay.finance") == set() and ids("ben.buyer") == {switch.id}
    # With the policy, the user is re-read, so a stale User object with extra roles gains nothing.
    stale = User("eve.exec", "Eve", frozenset({"buyer"}), None)
    assert store.list_for(stale, POLICY) == []


def test_execution_lifecycle(store: ApprovalStore) -> None:
    req = open_request(store)
    with pytest.raises(InvalidTransition, match="pending"):
        store.mark_executed(req.id, {})
    store.decide(req.id, user("sam.supervisor"), "approve")
    with pytest.raises(InvalidTransition):
        store.mark_compensated(req.id, {})
    done = store.mark_executed(req.id, {"changed": [{"table": "lots", "key": {"lot_id": "LOT-P100-0423"}}]})
    assert done.status is RequestStatus.EXECUTED and done.result is not None
    assert done.result["changed"][0]["table"] == "lots"
    with pytest.raises(InvalidTransition):
        store.mark_failed(req.id, {})
    undone = store.mark_compensated(req.id, {"status": "compensated"})
    assert undone.status is RequestStatus.COMPENSATED and undone.version == 4
    other = open_request(store)
    store.decide(other.id, user("quinn.quality"), "approve")
    assert store.mark_failed(other.id, {"reason": "lot already on hold"}).status is RequestStatus.FAILED


def test_expected_version_guards_stale_readers(store: ApprovalStore) -> None:
    req = open_request(store, "reallocate_inventory", "pat.planner", {"qty": 9}, value_usd=20000)
    store.decide(req.id, user("fay.finance"), "approve", expected_version=1)
    with pytest.raises(ConcurrentDecision, match="version 1 → 2"):
        store.decide(req.id, user("sam.supervisor"), "approve", expected_version=1)
    assert store.decide(req.id, user("sam.supervisor"), "approve", expected_version=2).version == 3


def _race(url: str, request_id: str, approvers: list[str]) -> list[object]:
    """Each approver decides from its own thread and engine, released at the same moment."""
    barrier = threading.Barrier(len(approvers))
    outcomes: list[object] = [None] * len(approvers)

    def worker(i: int, approver: str) -> None:
        eng = make_engine(url)
        try:
            barrier.wait()
            outcomes[i] = ApprovalStore(eng, clock=lambda: T0).decide(request_id, user(approver), "approve")
        except ApprovalError as exc:
            outcomes[i] = exc
        finally:
            eng.dispose()

    threads = [threading.Thread(target=worker, args=(i, a)) for i, a in enumerate(approvers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def _decision_rows(engine: Engine, request_id: str) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).where(approval_decisions.c.request_id == request_id)
        return int(conn.execute(stmt).scalar_one())


def test_concurrent_approvers_of_one_group_give_one_outcome(store: ApprovalStore, engine: Engine) -> None:
    for _ in range(3):
        req = open_request(store)
        outcomes = _race(engine.url.render_as_string(hide_password=False), req.id, ["quinn.quality", "sam.supervisor"])
        wins = [o for o in outcomes if isinstance(o, ApprovalRequest)]
        losses = [o for o in outcomes if isinstance(o, (AlreadyDecided, ConcurrentDecision))]
        assert len(wins) == 1 and len(losses) == 1, outcomes
        final = store.get(req.id)
        assert final.status is RequestStatus.APPROVED and final.version == 2
        assert _decision_rows(engine, req.id) == 1 and final.decisions == wins[0].decisions


def test_concurrent_approvers_of_two_groups_both_count(store: ApprovalStore, engine: Engine) -> None:
    req = open_request(store, "reallocate_inventory", "pat.planner", {"qty": 700}, value_usd=15000)
    outcomes = _race(engine.url.render_as_string(hide_password=False), req.id, ["sam.supervisor", "fay.finance"])
    assert all(isinstance(o, ApprovalRequest) for o in outcomes), outcomes
    final = store.get(req.id)
    assert final.status is RequestStatus.APPROVED and final.version == 3
    assert sorted(d.group_index for d in final.decisions) == [0, 1]
    assert _decision_rows(engine, req.id) == 2


BINDING = [
    ("action", dict(action="release_quality_hold")),
    ("args", dict(args={**HOLD_ARGS, "lot_id": "LOT-P100-0424"})),
    ("args", dict(args={**HOLD_ARGS, "extra": 1})),
    ("args", dict(args={**HOLD_ARGS, "include_open_work_orders": 1})),  # 1 is not true
    ("requester", dict(requester="quinn.quality")),
    ("thread_id", dict(thread_id="th-2")),
]


@pytest.mark.parametrize(("field", "change"), BINDING)
def test_binding_mismatch(store: ApprovalStore, field: str, change: dict[str, Any]) -> None:
    req = open_request(store)
    store.decide(req.id, user("sam.supervisor"), "approve")
    bound: dict[str, Any] = dict(action=req.action, args=dict(reversed(list(HOLD_ARGS.items()))),
                                 requester=user("pat.planner"), thread_id="th-1")
    store.verify_binding(store.get(req.id), **bound)  # the approved call itself binds (any key order)
    with pytest.raises(BindingMismatch) as info:
        store.verify_binding(store.get(req.id), **{**bound, **change})
    assert info.value.field == field and info.value.request_id == req.id


def test_executable_requires_approved_and_bound(store: ApprovalStore) -> None:
    req = open_request(store)
    call: dict[str, Any] = dict(action=req.action, args=HOLD_ARGS, requester="pat.planner", thread_id="th-1")
    with pytest.raises(InvalidTransition, match="pending, not approved"):
        store.executable(req.id, **call)
    store.decide(req.id, user("quinn.quality"), "approve")
    assert store.executable(req.id, **call).status is RequestStatus.APPROVED
    with pytest.raises(BindingMismatch):
        store.executable(req.id, **{**call, "args": {**HOLD_ARGS, "lot_id": "LOT-P100-0001"}})
    store.mark_executed(req.id, {"status": "ok"})
    with pytest.raises(InvalidTransition, match="executed, not approved"):
        store.executable(req.id, **call)


def test_an_approver_fills_the_scarcer_group(store: ApprovalStore) -> None:
    route = Route(Effect.NEEDS_APPROVAL, "test#groups", "two groups", "place_quality_hold", "paz.planner",
                  (ApproverGroup(("production_supervisor", "quality_engineer"), "P200",
                                 ("qiu.quality", "sol.supervisor"), "g0"),
                   ApproverGroup(("production_supervisor",), "P200", ("sol.supervisor",), "g1")),
                  T0 + timedelta(hours=24))
    req = store.create(thread_id="th", trace_id="tr", requester="paz.planner", action="place_quality_hold",
                       args={"lot_id": "LOT-P200-0001"}, subject={"site_id": "P200"}, route=route)
    first = store.decide(req.id, user("sol.supervisor"), "approve")
    assert first.last_decision is not None and first.last_decision.group_index == 1  # not group 0
    assert store.decide(req.id, user("qiu.quality"), "approve").status is RequestStatus.APPROVED


def test_autonomous_records_are_executable_once_and_never_decidable(store: ApprovalStore) -> None:
    route = Route(Effect.ALLOW, "enterprise.yaml#actions.reserve_spare_parts.autonomous_when[0]", "runs at once",
                  "reserve_spare_parts", "max.maint")
    record = store.create_autonomous(thread_id="th", trace_id="tr", requester="max.maint",
                                     action="reserve_spare_parts", args={"asset_id": "AS-1"},
                                     subject=RoutingSubject("P100"), route=route, now=T0)
    assert (record.status, record.risk_class, record.groups) == (RequestStatus.APPROVED, "autonomous", ())
    assert record.autonomous and record.to_json_dict()["risk_class"] == "autonomous"
    with pytest.raises(AlreadyDecided):
        store.decide(record.id, user("sam.supervisor"), DecisionKind.REJECT, now=T0)
    done = store.mark_executed(record.id, {"status": "executed"}, now=T0)
    assert done.status is RequestStatus.EXECUTED and record.id in {r.id for r in store.list_for(user("max.maint"))}
    with pytest.raises(InvalidTransition):
        store.mark_executed(record.id, {"status": "executed"}, now=T0)
    needs = ROUTER.route("reserve_spare_parts", user("max.maint"), RoutingSubject("P100"), now=T0)
    with pytest.raises(ApprovalError, match="only an allow route"):
        store.create_autonomous(thread_id="th", trace_id="tr", requester="max.maint", action="reserve_spare_parts",
                                args={}, subject=RoutingSubject("P100"), route=needs, now=T0)
    with pytest.raises(ApprovalError, match="only a needs_approval route"):
        store.create(thread_id="th", trace_id="tr", requester="max.maint", action="reserve_spare_parts", args={},
                     subject=RoutingSubject("P100"), route=route, now=T0)


def test_a_state_database_from_before_risk_classes_is_upgraded(engine: Engine) -> None:
    from sqlalchemy import inspect, text

    old = ApprovalStore(engine, clock=lambda: T0)
    old.create_schema()
    req = open_request(old)
    with engine.begin() as conn:  # the table as an older version created it
        conn.execute(text("ALTER TABLE approval_requests DROP COLUMN risk_class"))
    assert "risk_class" not in {c["name"] for c in inspect(engine).get_columns("approval_requests")}
    ApprovalStore(engine).create_schema()
    ApprovalStore(engine).create_schema()  # idempotent
    assert old.get(req.id, now=T0).risk_class == "approval"
