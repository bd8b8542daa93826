"""Decided requests one viewer may see, newest first, a page at a time.

Who may see a request is the caller's rule (``visible``: the same predicate that authorises reading one request),
never widened here. ``involving`` narrows the scan in SQL to rows that could name the user — their requests, the
requests they decided and those whose stored groups mention them — a superset of what the predicate admits for
anyone but an auditor; every row is still checked with ``visible`` before it is returned. Pages are keyed on
(``updated_at``, ``id``), so a page never depends on rows the viewer may not see (no offsets, no totals).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from guardrails.approvals._tables import approval_decisions, approval_requests, row_dict, to_request
from guardrails.approvals.models import ApprovalRequest, RequestStatus, utc
from guardrails.approvals.store import ApprovalStore

__all__ = ["DECIDED", "DecidedPage", "PageKey", "list_decided"]

DECIDED: frozenset[RequestStatus] = frozenset(RequestStatus) - {RequestStatus.PENDING}
"""Every status a request reaches once it is no longer waiting for a decision."""

MAX_PAGE = 200
"""The largest page :func:`list_decided` returns."""

_BATCH = 100
"""Rows read per query while filling a page (the visibility check runs in Python)."""


@dataclass(frozen=True)
class PageKey:
    """Where a page ends: the last request's ``updated_at`` and ``id`` (the next page starts after it)."""

    updated_at: datetime
    request_id: str


@dataclass(frozen=True)
class DecidedPage:
    """One page of decided requests and where the next starts (``None``: this was the last)."""

    requests: tuple[ApprovalRequest, ...]
    next_key: PageKey | None


def _like_literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _naming(user_id: str) -> ColumnElement[bool]:
    c = approval_requests.c
    decided = select(approval_decisions.c.request_id).where(approval_decisions.c.approver == user_id)
    # groups_json is json.dumps output, so the user id appears in it exactly as json.dumps quotes it.
    quoted = f"%{_like_literal(json.dumps(user_id))}%"
    return or_(c.requester == user_id, c.id.in_(decided), c.groups_json.like(quoted, escape="\\"))


def _rows(store: ApprovalStore, statuses: Collection[RequestStatus], involving: str | None,
          after: PageKey | None) -> Iterator[ApprovalRequest]:
    c = approval_requests.c
    key = after
    while True:
        stmt = select(approval_requests).where(c.status.in_(sorted(s.value for s in statuses)))
        if involving is not None:
            stmt = stmt.where(_naming(involving))
        if key is not None:
            moment = utc(key.updated_at)
            stmt = stmt.where(or_(c.updated_at < moment, and_(c.updated_at == moment, c.id < key.request_id)))
        stmt = stmt.order_by(c.updated_at.desc(), c.id.desc()).limit(_BATCH)
        with store.engine.connect() as conn:
            rows = [row_dict(r) for r in conn.execute(stmt)]
            ids = [r["id"] for r in rows]
            decisions: dict[str, list[dict[str, object]]] = {i: [] for i in ids}
            if ids:
                d = approval_decisions.c
                for r in conn.execute(select(approval_decisions).where(d.request_id.in_(ids)).order_by(d.id)):
                    decisions[r.request_id].append(row_dict(r))
        for row in rows:
            yield to_request(row, decisions[row["id"]])
        if len(rows) < _BATCH:
            return
        key = PageKey(rows[-1]["updated_at"], rows[-1]["id"])


def list_decided(store: ApprovalStore, visible: Callable[[ApprovalRequest], bool], *, involving: str | None,
                 statuses: Collection[RequestStatus] = DECIDED, limit: int = 50, after: PageKey | None = None,
                 now: datetime | None = None) -> DecidedPage:
    """Up to ``limit`` (at most :data:`MAX_PAGE`) requests of ``statuses`` (decided ones only) for which
    ``visible`` holds, newest change first, after ``after``.

    ``involving``: the viewer's user id, to narrow the scan to rows naming them (``None`` scans every row, for a
    viewer such as an auditor whom ``visible`` admits to any request). Pending requests past their expiry are
    marked expired first, so they are listed as such.
    """
    wanted = frozenset(statuses) & DECIDED
    size = max(1, min(limit, MAX_PAGE))
    if not wanted:
        return DecidedPage((), None)
    store.expire_due(now)
    found: list[ApprovalRequest] = []
    for request in _rows(store, wanted, involving, after):
        if not visible(request):
            continue
        if len(found) == size:  # one more exists: this page is full and a next one starts after its last
            last = found[-1]
            return DecidedPage(tuple(found), PageKey(last.updated_at, last.id))
        found.append(request)
    return DecidedPage(tuple(found), None)
