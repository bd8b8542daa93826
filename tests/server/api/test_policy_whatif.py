"""``POST /v1/admin/policy/whatif``: admins replay the audit (recorded through the API) under a draft sent as layer
files; others get the audited 403 of every admin endpoint."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from guardrails.audit.log import AuditKind
from guardrails.whatif import layer_files
from server.api.policy import WHATIF_PATH
from tests.server.api.conftest import auth

JSON = {"Accept": "application/json"}
DENY_DRIFT = "layer: plant\nsite: P100\nroles:\n  quality_engineer:\n    deny_tools: [machine_parameter_drift]\n"


def _record(client: TestClient) -> list[Any]:
    """One governed turn through the API, and the recorded machine_parameter_drift decisions."""
    reply = client.post("/v1/chat", json={"message": "why is scrap up on packaging line 1 at Aurora?"},
                        headers={**auth("quinn.quality"), **JSON})
    assert reply.status_code == 200, reply.text
    audit = client.app.state.services.runtime.audit  # type: ignore[attr-defined]
    return [r for r in audit.export() if r.kind == AuditKind.GATE_DECISION
            and r.payload.get("tool") == "machine_parameter_drift"]


def test_an_admin_sees_exactly_the_calls_a_draft_flips(client: TestClient) -> None:
    flipped = {r.seq for r in _record(client)}
    assert flipped
    reply = client.post(WHATIF_PATH, json={"layers": {"plants/P100.yaml": DENY_DRIFT}}, headers=auth("ian.admin"))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert {c["seq"] for c in body["changes"]} == flipped
    assert {(c["user_id"], c["new_effect"], c["new_rule_id"]) for c in body["changes"]} == {
        ("quinn.quality", "deny", "plants/P100.yaml#roles.quality_engineer.deny_tools")}
    runtime = client.app.state.services.runtime  # type: ignore[attr-defined]
    [event] = runtime.audit.by_trace(reply.headers["X-Jidoka-Trace"])
    assert (event.kind, event.user_id, event.trace_id) == (AuditKind.POLICY_WHATIF, "ian.admin", body["trace_id"])
    assert event.payload["draft_hash"] == body["draft_hash"] != runtime.policy.hash
    assert event.payload["changed"] == len(flipped) and event.payload["via"] == "api"


def test_the_live_policy_sent_whole_is_the_live_policy(client: TestClient) -> None:
    """The whole shipped policy as the body loads to the live policy's hash (the same loader) and changes nothing."""
    _record(client)
    files = {name: data.decode() for name, data in layer_files(None).items()}
    reply = client.post(WHATIF_PATH, json={"base": "none", "layers": files}, headers=auth("ada.auditor"))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["draft_hash"] == client.app.state.services.runtime.policy.hash  # type: ignore[attr-defined]
    assert body["changes"] == [] and body["route_changes"] == []
    assert body["summary"]["unchanged"] == body["summary"]["replayed"] > 0


def test_a_non_admin_gets_the_audited_403(client: TestClient) -> None:
    reply = client.post(WHATIF_PATH, json={"layers": {"plants/P100.yaml": DENY_DRIFT}}, headers=auth("pat.planner"))
    assert reply.status_code == 403
    assert "audit.read" in reply.json()["detail"]
    runtime = client.app.state.services.runtime  # type: ignore[attr-defined]
    [event] = runtime.audit.by_trace(reply.headers["X-Jidoka-Trace"])
    assert (event.kind, event.user_id, event.payload["error"]) == (AuditKind.ERROR, "pat.planner",
                                                                    "permission_denied")
    assert event.payload["route"] == f"POST {WHATIF_PATH}"
    assert not [r for r in runtime.audit.tail(50) if r.kind == AuditKind.POLICY_WHATIF and r.user_id == "pat.planner"]


def test_a_bad_draft_is_a_422_naming_the_file(client: TestClient) -> None:
    bad = "layer: plant\nsite: P100\nroles:\n  planner:\n    tools: [no_such_tool]\n"
    reply = client.post(WHATIF_PATH, json={"layers": {"plants/P100.yaml": bad}}, headers=auth("ian.admin"))
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert "plants/P100.yaml" in detail and "no_such_tool" in detail and "/tmp" not in detail
    for name in ("../enterprise.yaml", "/etc/passwd", "plants/../../x.yaml", "other.yaml"):
        reply = client.post(WHATIF_PATH, json={"layers": {name: "layer: plant\n"}}, headers=auth("ian.admin"))
        assert reply.status_code == 422 and "not a layer file" in reply.json()["detail"], name
    reply = client.post(WHATIF_PATH, json={"remove": ["enterprise.yaml"]}, headers=auth("ian.admin"))
    assert reply.status_code == 422 and "enterprise.yaml not found" in reply.json()["detail"]
    assert "/tmp" not in reply.json()["detail"]


def test_the_route_takes_a_whole_policy_over_the_usual_cap_and_no_more_than_its_own(client: TestClient) -> None:
    files = {name: data.decode() for name, data in layer_files(None).items()}
    files["plants/P100.yaml"] += "# " + "x" * 8000 + "\n"  # a comment: over 64 kB, and no decision changes
    reply = client.post(WHATIF_PATH, json={"base": "none", "layers": files}, headers=auth("ian.admin"))
    assert len(reply.request.content) > 65536
    assert reply.status_code == 200, reply.text
    assert reply.json()["changes"] == []
    reply = client.post(WHATIF_PATH, content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
                        headers={**auth("ian.admin"), "content-type": "application/json"})
    assert reply.status_code == 413
    reply = client.post("/v1/chat", content=b"{" + b" " * 70000 + b"}",
                        headers={**auth("pat.planner"), "content-type": "application/json"})
    assert reply.status_code == 413  # other routes keep JIDOKA_MAX_BODY_BYTES
