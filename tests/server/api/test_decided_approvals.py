"""``GET /v1/approvals?status=decided``: the decided requests the caller may see — exactly those ``GET
/v1/approvals/{id}`` shows them — newest change first, filtered by status, a page at a time, with approvers'
comments masked for viewers who may not see a value the comment states; nothing hidden appears or is counted."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guardrails.approvals.models import ApprovalRequest, RequestStatus
from guardrails.approvals.routing import RoutingSubject
from server.api.approval_pages import StatusFilter
from server.api.deps import Services
from server.app import create_app
from tests.server.api.conftest import api_settings, auth

USERS = ["pat.planner", "paz.planner", "sam.supervisor", "sol.supervisor", "quinn.quality", "qiu.quality",
         "fay.finance", "bo.buyer", "ada.auditor"]
COMMENT = "value $12,345.67 is over the budget line but the P200 order needs it"
VALUE = 12345.67


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    """The app without scheduled monitor runs (its requests would join the listing)."""
    settings = api_settings(home, JIDOKA_MONITOR_INTERVAL_S="0", JIDOKA_RATE_LIMIT_PER_MIN="100000")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def _create(services: Services, requester: str, action: str, subject: RoutingSubject, args: dict[str, Any],
            now: datetime | None = None) -> ApprovalRequest:
    runtime = services.runtime
    moment = now or datetime.now(UTC)
    route = runtime.approvals.actions.router.route(action, runtime.policy.user(requester), subject, now=moment)
    return runtime.approvals.store.create(thread_id=f"th-{action}", trace_id="tr", requester=requester,
                                          action=action, args=args, subject=subject, route=route, now=now)


@pytest.fixture(scope="module")
def made(client: TestClient) -> dict[str, str]:
    """Five requests in every state, decided through the store (no thread to resume here)."""
    services = _services(client)
    store = services.runtime.approvals.store
    user = services.runtime.policy.user
    hold = "place_quality_hold"
    # pat's reallocation out of P100 over $10k: sam (supervisor at P100) and fay (finance) must approve; executed.
    realloc = _create(services, "pat.planner", "reallocate_inventory",
                      RoutingSubject("P100", value_usd=VALUE, to_site="P200"), {"item_id": "RM-1", "qty": 500})
    assert [g.eligible_user_ids for g in realloc.groups] == [("sam.supervisor",), ("fay.finance",)]
    store.decide(realloc.id, user("fay.finance"), "approve", COMMENT)
    store.decide(realloc.id, user("sam.supervisor"), "approve")
    store.mark_executed(realloc.id, {"message": "moved"})
    # paz's hold at P200: qiu or sol may decide; qiu rejects.
    rejected = _create(services, "paz.planner", hold, RoutingSubject("P200"), {"lot_id": "LOT-P200-1"})
    assert set(rejected.groups[0].eligible_user_ids) == {"qiu.quality", "sol.supervisor"}
    store.decide(rejected.id, user("qiu.quality"), "reject", "wrong lot")
    # pat's hold at P100 two days ago: nobody decided; expired.
    expired = _create(services, "pat.planner", hold, RoutingSubject("P100"), {"lot_id": "LOT-P100-2"},
                      now=datetime.now(UTC) - timedelta(hours=48))
    # pat's hold at P100 approved by quinn, executed and undone.
    undone = _create(services, "pat.planner", hold, RoutingSubject("P100"), {"lot_id": "LOT-P100-3"})
    store.decide(undone.id, user("quinn.quality"), "approve", "seal drift confirmed")
    store.mark_executed(undone.id, {"message": "held"})
    store.mark_compensated(undone.id, {"message": "released"})
    # still pending: never in the decided listing
    pending = _create(services, "pat.planner", hold, RoutingSubject("P100"), {"lot_id": "LOT-P100-4"})
    return {"executed": realloc.id, "rejected": rejected.id, "expired": expired.id, "compensated": undone.id,
            "pending": pending.id}


def _decided(client: TestClient, user: str, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/approvals", params={"status": "decided", **params}, headers=auth(user))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(body: dict[str, Any]) -> list[str]:
    return [a["id"] for a in body["approvals"]]


def test_each_user_sees_exactly_the_decided_requests_they_may_read(client: TestClient,
                                                                   made: dict[str, str]) -> None:
    expected = {
        "pat.planner": {"executed", "expired", "compensated"},      # their own
        "paz.planner": {"rejected"},                                 # their own
        "sam.supervisor": {"executed", "expired", "compensated"},   # routed to him at P100
        "quinn.quality": {"expired", "compensated"},                 # the holds at P100, not the reallocation
        "sol.supervisor": {"rejected"},                              # eligible at P200, did not decide it
        "qiu.quality": {"rejected"},                                 # decided it
        "fay.finance": {"executed"},                                 # the finance group of the reallocation
        "bo.buyer": set(),                                           # nothing of theirs
        "ada.auditor": {"executed", "rejected", "expired", "compensated"},  # auditors read every request
    }
    for user in USERS:
        body = _decided(client, user)
        ids = _ids(body)
        assert set(ids) == {made[k] for k in expected[user]}, user
        assert body["count"] == len(ids) and body["next_cursor"] is None, user
        assert made["pending"] not in ids
        # The same rule as reading one request: listed here iff GET /v1/approvals/{id} shows it.
        for key in ("executed", "rejected", "expired", "compensated"):
            shown = client.get(f"/v1/approvals/{made[key]}", headers=auth(user)).status_code
            assert (shown == 200) is (made[key] in ids), (user, key, shown)
        moments = [a["updated_at"] for a in body["approvals"]]
        assert moments == sorted(moments, reverse=True), user  # newest change first
        assert {a["status"] for a in body["approvals"]} <= {"executed", "rejected", "expired", "compensated"}


def test_the_status_filter_narrows_the_listing(client: TestClient, made: dict[str, str]) -> None:
    assert _ids(_decided(client, "sam.supervisor", status=["rejected", "expired"])) == [made["expired"]]
    assert _ids(_decided(client, "sam.supervisor", status="executed")) == [made["executed"]]
    assert _ids(_decided(client, "pat.planner", status="compensated")) == [made["compensated"]]
    assert _ids(_decided(client, "qiu.quality", status=["approved", "executed"])) == []
    # Every stored status can be asked for (and only those, and ``decided``).
    assert {f.value for f in StatusFilter} == {s.value for s in RequestStatus} | {"decided"}
    mixed = client.get("/v1/approvals", params={"status": ["pending", "rejected"]}, headers=auth("sam.supervisor"))
    assert mixed.status_code == 422 and mixed.json()["field"] == "status"
    # The open inbox is what it was: pending requests to decide and one's own.
    inbox = client.get("/v1/approvals", headers=auth("sam.supervisor")).json()["approvals"]
    assert [a["id"] for a in inbox] == [made["pending"]]
    assert [a["id"] for a in client.get("/v1/approvals", params={"status": "pending"},
                                        headers=auth("pat.planner")).json()["approvals"]] == [made["pending"]]


def test_pages_cover_the_listing_once_and_reveal_nothing_hidden(client: TestClient, made: dict[str, str]) -> None:
    whole = _ids(_decided(client, "sam.supervisor"))
    assert len(whole) == 3
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        body = _decided(client, "sam.supervisor", limit=1, **({"cursor": cursor} if cursor else {}))
        assert body["count"] == len(body["approvals"]) <= 1
        seen += _ids(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == whole
    # The cursor names the caller's own last request only.
    last = _decided(client, "sam.supervisor", limit=2)
    decoded = base64.urlsafe_b64decode(last["next_cursor"] + "==").decode()
    assert decoded.endswith(f"|{last['approvals'][1]['id']}")
    # qiu may see one request of four: one page, no next one and no count of the others, whatever the limit.
    for limit in (1, 2, 200):
        body = _decided(client, "qiu.quality", limit=limit)
        assert (_ids(body), body["count"], body["next_cursor"]) == ([made["rejected"]], 1, None)
    nothing = _decided(client, "bo.buyer", limit=1)
    assert (nothing["approvals"], nothing["count"], nothing["next_cursor"]) == ([], 0, None)
    assert "total" not in nothing


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "decided", "cursor": "not!base64"}, "cursor"),
    ({"status": "decided", "cursor": base64.urlsafe_b64encode(b"yesterday|APR-1").decode().rstrip("=")}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|APR-000000000000").decode().rstrip("=")},
     "cursor"),
    ({"status": "decided", "cursor": base64.urlsafe_b64encode(b"2026-01-01T00:00:00|APR-000000000000").decode()
      .rstrip("=")}, "cursor"),  # no zone
    ({"status": "decided", "cursor": base64.urlsafe_b64encode(b"9999-12-31T23:59:59-14:00|APR-000000000000")
      .decode().rstrip("=")}, "cursor"),  # past year 9999 in UTC
    ({"status": "decided", "limit": 0}, "limit"),
    ({"status": "decided", "limit": 201}, "limit"),
    ({"status": "undone"}, "status"),
])
def test_bad_paging_input_is_refused_naming_the_field(client: TestClient, params: dict[str, Any],
                                                      field: str) -> None:
    response = client.get("/v1/approvals", params=params, headers=auth("sam.supervisor"))
    assert response.status_code == 422 and response.json()["field"] == field, response.text


def test_comments_are_masked_for_viewers_who_may_not_see_the_value(client: TestClient,
                                                                   made: dict[str, str]) -> None:
    def realloc(user: str) -> dict[str, Any]:
        return next(a for a in _decided(client, user)["approvals"] if a["id"] == made["executed"])

    finance = realloc("fay.finance")  # finance sees standard costs: the comment as written
    assert finance["decisions"][0]["comment"] == COMMENT and finance["value_usd"] == VALUE
    for user in ("pat.planner", "sam.supervisor"):  # neither may see standard costs
        shown = realloc(user)
        assert shown["value_usd"] is None and "items.standard_cost" in shown["masked_fields"]
        assert "12,345" not in str(shown) and "12345" not in str(shown), user
        # The single request reads the same.
        one = client.get(f"/v1/approvals/{made['executed']}", headers=auth(user)).json()
        assert one["decisions"] == shown["decisions"]
    # The approver at P100 reads finance's comment with the amount masked ...
    (comment,) = [d["comment"] for d in realloc("sam.supervisor")["decisions"] if d["approver"] == "fay.finance"]
    assert comment == "value $*** is over the budget line but the P200 order needs it"
    # ... and the requester, who may not see the value, is not shown the value-dependent group's decision at all.
    assert [d["approver"] for d in realloc("pat.planner")["decisions"]] == ["sam.supervisor"]
    # A comment by someone who could see no value is not touched.
    undone = next(a for a in _decided(client, "pat.planner")["approvals"] if a["id"] == made["compensated"])
    assert undone["decisions"][0]["comment"] == "seal drift confirmed" and undone["status"] == "compensated"
    assert undone["decisions"][0]["approver"] == "quinn.quality"
    assert RequestStatus(undone["status"]) is RequestStatus.COMPENSATED
