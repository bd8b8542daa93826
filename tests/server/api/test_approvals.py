"""Approvals over HTTP: request in chat, SoD and eligibility 403s, approve resumes the thread, reject, undo, 409s;
and the metrics move with them."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from server.api.deps import Services
from tests.server.api.conftest import auth, sse_events

HOLD = "put lot {lot} on quality hold with its open work orders, seal failures"


def _metric(client: TestClient, name: str, labels: str = "") -> float:
    body = client.get("/metrics").text
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", body, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _lot_status(client: TestClient, lot: str) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    with services.runtime.data_engine.connect() as conn:
        return str(conn.execute(text("SELECT status FROM lots WHERE lot_id = :l"), {"l": lot}).scalar_one())


def _request_hold(client: TestClient, lot: str) -> tuple[str, str, list[tuple[str, dict[str, Any]]]]:
    events = sse_events(client.post("/v1/chat", json={"message": HOLD.format(lot=lot)},
                                    headers=auth("sam.supervisor")).text)
    requested = [d for n, d in events if n == "approval_requested"]
    assert len(requested) == 1, events
    done = events[-1][1]
    assert done["paused"] is True
    return requested[0]["id"], done["thread_id"], events


def test_approve_resumes_the_thread_and_undo_is_governed(client: TestClient,
                                                         demo_manifest: dict[str, Any]) -> None:
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    turns_before = _metric(client, "jidoka_turns_total", '{outcome="paused"}')
    approvals_before = _metric(client, "jidoka_approval_requests", '{status="executed"}')
    rid, thread_id, events = _request_hold(client, lot)
    names = [n for n, _ in events]
    assert names.index("tool_call") < names.index("approval_requested") < names.index("token") < names.index("done")
    requested = next(d for n, d in events if n == "approval_requested")
    assert requested["action"] == "place_quality_hold" and requested["status"] == "pending"
    assert requested["approvers"] == ["production_supervisor or quality_engineer at P100: quinn.quality"]
    assert _metric(client, "jidoka_turns_total", '{outcome="paused"}') == turns_before + 1
    assert _metric(client, "jidoka_gate_decisions_total", '{effect="needs_approval"}') >= 1

    # The paused thread shows what it waits for, and takes no new question meanwhile.
    view = client.get(f"/v1/threads/{thread_id}", headers=auth("sam.supervisor")).json()
    assert view["paused"] is True and [w["id"] for w in view["waiting"]] == [rid]
    busy = client.post("/v1/chat", json={"message": "anything else?", "thread_id": thread_id},
                       headers=auth("sam.supervisor"))
    assert busy.status_code == 409 and rid in busy.json()["detail"]

    # The inbox: quinn may decide it; sam sees his own request but may not decide it.
    inbox = client.get("/v1/approvals", headers=auth("quinn.quality")).json()["approvals"]
    mine = next(a for a in inbox if a["id"] == rid)
    assert mine["may_decide"] is True and mine["args"]["lot_id"] == lot and mine["requester"] == "sam.supervisor"
    assert next(a for a in client.get("/v1/approvals", headers=auth("sam.supervisor")).json()["approvals"]
                if a["id"] == rid)["may_decide"] is False
    assert rid not in {a["id"] for a in client.get("/v1/approvals", headers=auth("paz.planner")).json()["approvals"]}
    assert client.get(f"/v1/approvals/{rid}", headers=auth("paz.planner")).status_code == 404
    assert client.get(f"/v1/approvals/{rid}", headers=auth("ada.auditor")).status_code == 200

    own = client.post(f"/v1/approvals/{rid}/approve", json={"comment": "mine"}, headers=auth("sam.supervisor"))
    assert own.status_code == 403 and "requester can never approve" in own.json()["detail"]
    foreign = client.post(f"/v1/approvals/{rid}/approve", headers=auth("qiu.quality"))
    assert foreign.status_code == 403 and "may not decide" in foreign.json()["detail"]
    assert _lot_status(client, lot) != "quality_hold"

    decided = client.post(f"/v1/approvals/{rid}/approve", json={"comment": "seal drift confirmed"},
                          headers=auth("quinn.quality"))
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["request"]["status"] == "executed" and body["resume_error"] is None
    assert body["request"]["decisions"][0]["comment"] == "seal drift confirmed"
    assert body["resumed"]["thread_id"] == thread_id and body["resumed"]["paused"] is False
    assert f"{lot} is on quality hold" in body["resumed"]["answer"]
    assert _lot_status(client, lot) == "quality_hold"
    assert client.get(f"/v1/threads/{thread_id}", headers=auth("sam.supervisor")).json()["paused"] is False
    assert _metric(client, "jidoka_approval_requests", '{status="executed"}') == approvals_before + 1
    assert _metric(client, "jidoka_approval_decisions_total", '{decision="approve"}') >= 1

    again = client.post(f"/v1/approvals/{rid}/approve", headers=auth("quinn.quality"))
    assert again.status_code == 409 and "already executed" in again.json()["detail"]

    # Undo: not for bystanders; for an eligible approver it restores the lot.
    assert client.post(f"/v1/approvals/{rid}/undo", headers=auth("pat.planner")).status_code == 404
    undone = client.post(f"/v1/approvals/{rid}/undo", json={}, headers=auth("quinn.quality"))
    assert undone.status_code == 200, undone.text
    assert undone.json()["request"]["status"] == "compensated" and _lot_status(client, lot) != "quality_hold"
    repeat = client.post(f"/v1/approvals/{rid}/undo", headers=auth("quinn.quality"))  # idempotent
    assert repeat.status_code == 200 and repeat.json()["undo"]["reason"] == "already undone"

    trail = client.get("/v1/audit", params={"trace_id": body["resumed"]["trace_id"]},
                       headers=auth("ada.auditor")).json()["records"]
    kinds = {r["kind"] for r in trail}
    assert {"approval_requested", "action_executed", "answer"} <= kinds
    assert client.get("/v1/audit/verify", headers=auth("ada.auditor")).json()["ok"] is True


def test_reject_resumes_without_executing(client: TestClient, demo_manifest: dict[str, Any]) -> None:
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    rid, _, _ = _request_hold(client, lot)
    rejected = client.post(f"/v1/approvals/{rid}/reject", json={"comment": "not the supplier lot"},
                           headers=auth("quinn.quality"))
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert body["request"]["status"] == "rejected" and body["resumed"]["paused"] is False
    assert "rejected" in body["resumed"]["answer"] and _lot_status(client, lot) != "quality_hold"
    assert client.post(f"/v1/approvals/{rid}/undo", headers=auth("quinn.quality")).status_code == 409
    assert client.post(f"/v1/approvals/{rid}/approve", headers=auth("quinn.quality")).status_code == 409


def test_unknown_and_malformed_request_ids(client: TestClient) -> None:
    assert client.post("/v1/approvals/APR-000000000000/approve", headers=auth("quinn.quality")).status_code == 404
    assert client.get("/v1/approvals/APR-000000000000", headers=auth("quinn.quality")).status_code == 404
    bad = client.post("/v1/approvals/not-an-id/approve", headers=auth("quinn.quality"))
    assert bad.status_code == 422 and bad.json()["field"] == "request_id"
    long_comment = client.post("/v1/approvals/APR-000000000000/reject", json={"comment": "x" * 2001},
                               headers=auth("quinn.quality"))
    assert long_comment.status_code == 422 and long_comment.json()["field"] == "comment"
    assert client.get("/v1/approvals", params={"status": "nonsense"},
                      headers=auth("quinn.quality")).json()["field"] == "status"
