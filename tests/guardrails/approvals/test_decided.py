"""Decided requests a page at a time: every page in order, across the store's read batches and ties on
``updated_at``, equals the brute-force filter of every request; the SQL narrowing never drops a request the
predicate admits (user ids with LIKE wildcards or non-ASCII letters included)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from guardrails.approvals.decided import DECIDED, PageKey, list_decided
from guardrails.approvals.models import ApprovalRequest, ApproverGroup, RequestStatus
from guardrails.approvals.routing import Route
from guardrails.approvals.store import ApprovalStore
from guardrails.gate import Effect
from guardrails.identity import User
from tools.plant.db import make_engine

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
PEOPLE = ["ana.q", "b_o%b", "josé.ñ", "dee"]
"""Approvers; ``b_o%b`` is what a LIKE wildcard would match too loosely, ``josé.ñ`` is stored JSON-escaped."""


@pytest.fixture
def engine(state_url: str) -> Iterator[Engine]:
    eng = make_engine(state_url)
    yield eng
    eng.dispose()


def _person(user_id: str) -> User:
    return User(user_id, user_id, frozenset({"quality_engineer"}), None)


def _make(store: ApprovalStore, n: int) -> None:
    """``n`` requests by ``req.<i % 3>``, each routed to one or two of PEOPLE, decided (or expired) at times with
    ties every third request."""
    for i in range(n):
        eligible = (PEOPLE[i % 4],) if i % 5 else (PEOPLE[i % 4], PEOPLE[(i + 1) % 4])
        created = T0 + timedelta(minutes=i)
        route = Route(Effect.NEEDS_APPROVAL, "test#g", "needs one", "place_quality_hold", f"req.{i % 3}",
                      (ApproverGroup(("quality_engineer",), None, eligible, "g0"),),
                      created + timedelta(hours=24))
        request = store.create(thread_id=f"th-{i}", trace_id="tr", requester=f"req.{i % 3}",
                               action="place_quality_hold", args={"i": i}, subject={"site_id": "P100"},
                               route=route, now=created)
        if i % 11 == 0:
            continue  # left to expire
        moment = T0 + timedelta(hours=5, seconds=i - i % 3)  # three requests share each moment
        store.decide(request.id, _person(eligible[0]), "reject" if i % 2 else "approve", now=moment)


def _sees(user_id: str) -> object:
    def visible(r: ApprovalRequest) -> bool:
        return (r.requester == user_id or r.decided_by(user_id)
                or any(user_id in g.eligible_user_ids for g in r.groups))
    return visible


def _pages(store: ApprovalStore, user_id: str | None, limit: int, statuses: frozenset[RequestStatus]) -> list[str]:
    visible = _sees(user_id) if user_id else (lambda r: True)
    ids: list[str] = []
    after: PageKey | None = None
    for _ in range(1000):
        page = list_decided(store, visible, involving=user_id, statuses=statuses, limit=limit,  # type: ignore[arg-type]
                            after=after, now=T0 + timedelta(days=3))
        assert len(page.requests) <= limit
        ids += [r.id for r in page.requests]
        if page.next_key is None:
            return ids
        assert len(page.requests) == limit  # a next page only after a full one
        after = page.next_key
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_pages_equal_the_brute_force_listing(engine: Engine, limit: int) -> None:
    store = ApprovalStore(engine, clock=lambda: T0 + timedelta(days=3))
    store.create_schema()
    _make(store, 230)  # more than two of the store's read batches
    every = sorted(store.list_all(limit=10_000), key=lambda r: (r.updated_at, r.id), reverse=True)
    assert {r.status for r in every} == {RequestStatus.APPROVED, RequestStatus.REJECTED, RequestStatus.EXPIRED}
    for user_id in [*PEOPLE, "req.1", "b_o", "nobody", None]:
        for statuses in (DECIDED, frozenset({RequestStatus.REJECTED, RequestStatus.EXPIRED})):
            visible = _sees(user_id) if user_id else (lambda r: True)
            expected = [r.id for r in every if r.status in statuses and visible(r)]  # type: ignore[operator]
            assert _pages(store, user_id, limit, statuses) == expected, (user_id, sorted(statuses))
    assert _pages(store, "b_o", limit, DECIDED) == []  # the wildcard letters match nothing they should not


def test_pending_is_never_listed(engine: Engine) -> None:
    store = ApprovalStore(engine, clock=lambda: T0)
    store.create_schema()
    _make(store, 3)
    page = list_decided(store, lambda r: True, involving=None, statuses={RequestStatus.PENDING}, now=T0)
    assert page.requests == () and page.next_key is None
