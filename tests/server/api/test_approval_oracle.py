"""Issue 16, finding 2 — approval routing as an oracle.

pat.planner may not see ``items.standard_cost``. Reallocations of CP-2020 above US$10,000 also need finance, so
before the fix, asking for 400,000 / 420,000 / 420,400 / 450,000 units showed "AND finance at P100" (and the
``when[0]`` rule id) appear between 420,000 and 420,400 units: four pending requests pinned the nail's cost to
four digits. What the requester is told — the chat answer, the ``tool_call`` and ``approval_requested`` events,
the request over ``GET /v1/approvals``, the thread view — must be the same on both sides of the threshold,
while finance still gets exactly the requests that need it, and approvers see the repeated requests as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from guardrails.audit.log import AuditKind
from server.api.deps import Services
from server.app import create_app
from tests.server.api.conftest import api_settings, auth, plant_home, sse_events
from tools import make_engine

ITEM = "CP-2020"
COST = 0.0238  # US$ per nail, as in the report: 420,000 → $9,996, 420,400 → $10,005.52
QUANTITIES = (400_000, 420_000, 420_400, 450_000)
THRESHOLD = 10_000


@pytest.fixture(scope="module")
def home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private plant where CP-2020 costs $0.0238 and P100 has 500,000 more nails free (as in the report)."""
    target = plant_home(demo_home, tmp_path_factory.mktemp("oracle-home"))
    engine = make_engine(f"sqlite:///{target / 'plant.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE items SET standard_cost = :c WHERE item_id = :i"), {"c": COST, "i": ITEM})
            lot = conn.execute(text(
                "SELECT i.lot_id FROM inventory i JOIN lots l ON l.lot_id = i.lot_id WHERE i.item_id = :i AND "
                "i.site_id = 'P100' AND i.stock_status = 'unrestricted' AND l.status = 'available' "
                "ORDER BY i.lot_id LIMIT 1"), {"i": ITEM}).scalar_one()
            conn.execute(text("UPDATE inventory SET qty_on_hand = qty_on_hand + 500000 WHERE lot_id = :l AND "
                              "site_id = 'P100' AND item_id = :i"), {"l": lot, "i": ITEM})
    finally:
        engine.dispose()
    return target


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings(home)), raise_server_exceptions=False) as test_client:
        yield test_client


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\+00:00|Z)?")


def _same_for_every_quantity(value: Any, *, qty: int, ids: dict[str, str]) -> Any:
    """``value`` with what legitimately differs per request (ids, the quantity asked, times) replaced."""
    if isinstance(value, dict):
        return {k: _same_for_every_quantity(v, qty=qty, ids=ids) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_same_for_every_quantity(v, qty=qty, ids=ids) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == qty:
        return "<QTY>"
    if isinstance(value, str):
        for real, placeholder in ids.items():
            value = value.replace(real, placeholder)
        return _TIME.sub("<TIME>", value.replace(str(qty), "<QTY>"))
    return value


@pytest.fixture(scope="module")
def probe(client: TestClient) -> dict[int, dict[str, Any]]:
    """pat.planner asks for the four reallocations, each in a new thread, and reads back everything shown."""
    seen: dict[int, dict[str, Any]] = {}
    for qty in QUANTITIES:
        body = client.post("/v1/chat", json={"message": f"Move {qty} units of {ITEM} from P100 to P200"},
                           headers=auth("pat.planner"))
        assert body.status_code == 200, body.text
        events = sse_events(body.text)
        done = events[-1][1]
        [rid] = [d["id"] for n, d in events if n == "approval_requested"]
        assert done["paused"] is True, events
        request = client.get(f"/v1/approvals/{rid}", headers=auth("pat.planner")).json()
        listed = next(a for a in client.get("/v1/approvals", headers=auth("pat.planner")).json()["approvals"]
                      if a["id"] == rid)
        thread = client.get(f"/v1/threads/{done['thread_id']}", headers=auth("pat.planner")).json()
        ids = {rid: "<ID>", done["thread_id"]: "<THREAD>", done["trace_id"]: "<TRACE>"}
        answer = "".join(d["text"] for n, d in events if n == "token")
        others = [(n, d) for n, d in events if n != "token"]
        seen[qty] = {"rid": rid, "request": request, "shown": _same_for_every_quantity(
            {"answer": answer, "events": others, "request": request, "listed": listed, "thread": thread},
            qty=qty, ids=ids)}
    return seen


def test_the_plant_is_as_in_the_report(client: TestClient) -> None:
    services = _services(client)
    with services.runtime.data_engine.connect() as conn:
        cost = conn.execute(text("SELECT standard_cost FROM items WHERE item_id = :i"), {"i": ITEM}).scalar_one()
    assert [qty * cost > THRESHOLD for qty in QUANTITIES] == [False, False, True, True]


def test_what_the_requester_is_shown_does_not_depend_on_the_hidden_value(probe: dict[int, dict[str, Any]]) -> None:
    below, *others = (probe[qty]["shown"] for qty in QUANTITIES)
    for qty, shown in zip(QUANTITIES[1:], others, strict=True):
        assert shown == below, f"pat.planner sees a different route for {qty} units than for {QUANTITIES[0]}"
    # Told honestly what may be needed, the same way every time; never the value.
    answer = below["answer"]
    assert "finance at P100" in answer and "10,000" in answer
    assert below["request"]["value_usd"] is None and "items.standard_cost" in below["request"]["masked_fields"]
    for qty in QUANTITIES:
        request = probe[qty]["request"]
        assert "when[0]" not in request["rule_id"] and f"{qty * COST:,.2f}" not in str(request)


def test_finance_still_gets_exactly_the_requests_above_the_threshold(client: TestClient,
                                                                     probe: dict[int, dict[str, Any]]) -> None:
    services = _services(client)
    inbox = {a["id"]: a for a in client.get("/v1/approvals", headers=auth("fay.finance")).json()["approvals"]}
    for qty in QUANTITIES:
        rid = probe[qty]["rid"]
        needs_finance = qty * COST > THRESHOLD
        stored = services.runtime.approvals.get(rid)
        assert ["finance" in g.roles for g in stored.groups] == [False, *([True] if needs_finance else [])]
        assert (rid in inbox and inbox[rid]["may_decide"]) is needs_finance
        # The approvers see the real route, with why finance is in it.
        sam = client.get(f"/v1/approvals/{rid}", headers=auth("sam.supervisor")).json()
        assert sam["may_decide"] is True
        assert any("finance at P100" in line for line in sam["approvers"]) is needs_finance
        if needs_finance:
            fay = client.get(f"/v1/approvals/{rid}", headers=auth("fay.finance")).json()
            assert fay["value_usd"] == pytest.approx(qty * COST)


def test_repeated_requests_are_flagged_to_approvers_and_audited(client: TestClient,
                                                                probe: dict[int, dict[str, Any]]) -> None:
    ids = [probe[qty]["rid"] for qty in QUANTITIES]
    for rid in ids:
        siblings = sorted(set(ids) - {rid})
        sam = client.get(f"/v1/approvals/{rid}", headers=auth("sam.supervisor")).json()
        assert sorted(s["id"] for s in sam["similar_requests"]) == siblings
        assert "probing" in sam["probing_note"] and all(s in sam["probing_note"] for s in siblings)
    inbox = {a["id"]: a for a in client.get("/v1/approvals", headers=auth("fay.finance")).json()["approvals"]}
    assert all(len(inbox[rid]["similar_requests"]) == 3 for rid in ids if rid in inbox)
    events = [e for e in _services(client).runtime.audit.export() if e.kind == AuditKind.APPROVAL_REQUESTED]
    similar = {e.payload["request_id"]: e.payload["similar_requests"] for e in events}
    # Each request is audited with the requests like it made before it.
    assert [similar[rid] for rid in ids] == [ids[:i] for i in range(len(ids))]
