"""Issue 16, finding 5 — refusals that leave no trace.

Before the fix the streaming ``/v1/chat`` precheck (someone else's thread, a thread paused for approval), refused
approvals (own request, other site, ineligible role), 409s on decided requests, 404s for threads and requests the
caller may not see, 403s of ``require_permission`` and every read of ``/v1/audit`` wrote nothing to the audit log,
and no refusal named a trace. Now each is exactly one audit event — who, which thread or request, why — and the
response names its trace (``X-Jidoka-Trace`` and ``trace_id``), which ``jidoka audit show --trace`` finds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from guardrails.audit.log import AuditRecord
from server.api.deps import Services
from server.app import create_app
from server.cli.audit import audit_app
from tests.server.api.conftest import api_settings, auth, sse_events

QUESTION = "which items are below their reorder point at P100?"
HOLD = "put lot {lot} on quality hold with its open work orders, seal failures"
AS_JSON = {"Accept": "application/json"}


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def _trace(response: httpx.Response) -> str:
    """The trace a response names: the header, and the same id in a JSON error body."""
    trace_id = response.headers["x-jidoka-trace"]
    body = response.json()
    if "detail" in body:
        assert body["trace_id"] == trace_id, body
    assert len(trace_id) == 32
    return trace_id


def _only(client: TestClient, trace_id: str) -> AuditRecord:
    """The one audit event of ``trace_id``."""
    records = _services(client).runtime.audit.by_trace(trace_id)
    assert len(records) == 1, records
    return records[0]


def _refusal(client: TestClient, response: httpx.Response, status: int) -> AuditRecord:
    assert response.status_code == status, response.text
    return _only(client, _trace(response))


def _head(client: TestClient) -> int:
    return _services(client).runtime.audit.head().seq


def _show(home: Path, trace_id: str) -> list[dict[str, Any]]:
    """``jidoka audit show --trace ID --json`` on the app's state database."""
    root = typer.Typer(pretty_exceptions_enable=False)

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = api_settings(home)

    root.add_typer(audit_app, name="audit")
    result = CliRunner().invoke(root, ["audit", "show", "--trace", trace_id, "--json"])
    assert result.exit_code == 0, result.stderr
    shown: list[dict[str, Any]] = json.loads(result.stdout)
    return shown


def test_someone_elses_thread_is_an_audited_refusal_on_every_path(client: TestClient, home: Path) -> None:
    thread_id = client.post("/v1/chat", json={"message": QUESTION},
                            headers={**auth("pat.planner"), **AS_JSON}).json()["thread_id"]
    ask = {"message": "and which work orders are late?", "thread_id": thread_id}

    # The streaming path refuses in its precheck, before the turn (and its audit) would run.
    stream = client.post("/v1/chat", json=ask, headers=auth("paz.planner"))
    event = _refusal(client, stream, 403)
    assert (event.kind, event.user_id, event.thread_id) == ("error", "paz.planner", thread_id)
    assert event.payload == {"error": "thread_not_yours", "thread_id": thread_id,
                             "reason": f"thread {thread_id} belongs to another user"}
    assert stream.json()["detail"] == event.payload["reason"]
    [shown] = _show(home, event.trace_id)
    assert shown["seq"] == event.seq and shown["payload"]["error"] == "thread_not_yours"

    # The JSON path and the OpenAI facade are refused by the turn itself, which audits it: the trace is named now.
    as_json = client.post("/v1/chat", json=ask, headers={**auth("paz.planner"), **AS_JSON})
    event = _refusal(client, as_json, 403)
    assert (event.kind, event.user_id, event.payload["error"]) == ("error", "paz.planner", "thread_not_yours")
    completion = client.post("/v1/chat/completions", headers=auth("paz.planner"), json={
        "model": "jidoka", "messages": [{"role": "user", "content": "anything?"}],
        "metadata": {"thread_id": thread_id}})
    assert completion.json()["error"]["type"] == "permission_error"
    event = _refusal(client, completion, 403)
    assert (event.user_id, event.thread_id, event.payload["error"]) == ("paz.planner", thread_id, "thread_not_yours")

    # Reading it: the same 404 as for no thread at all (no oracle), both audited, the audit tells them apart.
    foreign = client.get(f"/v1/threads/{thread_id}", headers=auth("paz.planner"))
    missing = client.get("/v1/threads/th-0000000000000000", headers=auth("paz.planner"))
    seen, absent = _refusal(client, foreign, 404), _refusal(client, missing, 404)
    assert foreign.json()["detail"].replace(thread_id, "ID") == missing.json()["detail"].replace(
        "th-0000000000000000", "ID") == "no thread ID of yours"
    assert set(foreign.json()) == set(missing.json()) == {"detail", "trace_id"}
    assert (seen.user_id, seen.thread_id, seen.payload["error"]) == ("paz.planner", thread_id, "thread_not_yours")
    assert (absent.thread_id, absent.payload["error"]) == ("th-0000000000000000", "thread_not_found")


def test_refused_decisions_and_decided_requests_are_audited(client: TestClient,
                                                           demo_manifest: dict[str, Any]) -> None:
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    events = sse_events(client.post("/v1/chat", json={"message": HOLD.format(lot=lot)},
                                    headers=auth("sam.supervisor")).text)
    rid = next(d for n, d in events if n == "approval_requested")["id"]
    thread_id = events[-1][1]["thread_id"]

    busy = client.post("/v1/chat", json={"message": "anything else?", "thread_id": thread_id},
                       headers=auth("sam.supervisor"))
    event = _refusal(client, busy, 409)
    assert (event.user_id, event.thread_id) == ("sam.supervisor", thread_id)
    assert event.payload["error"] == "thread_awaiting_approval" and event.payload["requests"] == [rid]

    for user, verb, code in (("sam.supervisor", "approve", "separation_of_duties"),  # their own request
                             ("qiu.quality", "approve", "not_eligible"),  # quality, at another site
                             ("bea.buyer", "reject", "not_eligible")):  # a role no group admits
        response = client.post(f"/v1/approvals/{rid}/{verb}", json={"comment": "x"}, headers=auth(user))
        event = _refusal(client, response, 403)
        assert (event.kind, event.user_id, event.thread_id) == ("error", user, thread_id)
        assert event.payload == {"error": code, "request_id": rid, "decision": verb,
                                 "reason": response.json()["detail"]}

    unknown = client.post("/v1/approvals/APR-000000000000/approve", headers=auth("quinn.quality"))
    event = _refusal(client, unknown, 404)
    assert (event.user_id, event.thread_id, event.payload["error"]) == ("quinn.quality", None, "request_not_found")

    assert client.post(f"/v1/approvals/{rid}/reject", headers=auth("quinn.quality")).status_code == 200
    again = client.post(f"/v1/approvals/{rid}/approve", headers=auth("quinn.quality"))
    event = _refusal(client, again, 409)
    assert event.payload == {"error": "already_decided", "request_id": rid, "decision": "approve",
                             "request_status": "rejected", "reason": again.json()["detail"]}

    # Undo of what never ran: the undo's trace holds its gate decision and why nothing was undone.
    undo = client.post(f"/v1/approvals/{rid}/undo", headers=auth("quinn.quality"))
    assert undo.status_code == 409
    trail = _services(client).runtime.audit.by_trace(_trace(undo))
    assert [r.kind for r in trail] == ["gate_decision", "error"]
    assert trail[-1].payload["error"] == "not_undoable" and trail[-1].user_id == "quinn.quality"

    # Requests the caller may not see: one 404 for hidden and for unknown, both audited.
    for path, user, code in ((f"/v1/approvals/{rid}", "paz.planner", "request_not_visible"),
                             ("/v1/approvals/APR-000000000000", "paz.planner", "request_not_found")):
        event = _refusal(client, client.get(path, headers=auth(user)), 404)
        assert (event.user_id, event.payload["error"]) == (user, code)
    event = _refusal(client, client.post(f"/v1/approvals/{rid}/undo", headers=auth("pat.planner")), 404)
    assert (event.user_id, event.payload) == ("pat.planner", {
        "error": "request_not_visible", "request_id": rid, "reason": f"no approval request {rid!r}"})


def test_a_missing_permission_is_audited_and_a_bad_token_only_logged(client: TestClient,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    denied = client.get("/v1/audit", params={"limit": 5}, headers=auth("pat.planner"))
    event = _refusal(client, denied, 403)
    assert (event.kind, event.user_id, event.thread_id) == ("error", "pat.planner", None)
    assert event.payload == {"error": "permission_denied", "permission": "audit.read", "route": "GET /v1/audit",
                             "reason": denied.json()["detail"]}
    verify = client.get("/v1/audit/verify", headers=auth("eve.exec"))
    assert _refusal(client, verify, 403).payload["route"] == "GET /v1/audit/verify"

    # A 401 names no user to trust: logged (and counted in the metrics), never an audit write.
    before = _head(client)
    with caplog.at_level(logging.WARNING, logger="jidoka.api"):
        forged = client.get("/v1/audit", headers=auth("ada.auditor", secret="not-the-servers-secret-at-all-32b"))
    assert forged.status_code == 401 and "x-jidoka-trace" not in forged.headers
    assert _head(client) == before
    assert any("authentication refused: GET /v1/audit" in r.getMessage() and "signature" in r.getMessage()
               for r in caplog.records)


def test_audit_reads_are_audited_after_the_read(client: TestClient) -> None:
    turn = client.post("/v1/chat", json={"message": QUESTION}, headers={**auth("pat.planner"), **AS_JSON}).json()
    before = _head(client)
    first = client.get("/v1/audit", params={"trace_id": turn["trace_id"]}, headers=auth("ada.auditor"))
    records = first.json()["records"]
    event = _only(client, _trace(first))
    assert (event.kind, event.user_id, event.thread_id) == ("audit_read", "ada.auditor", None)
    assert event.trace_id != turn["trace_id"] and event.seq == before + 1
    assert event.payload == {"read": "trace", "via": "api", "trace_id": turn["trace_id"], "count": len(records),
                             "first_seq": records[0]["seq"], "last_seq": records[-1]["seq"]}
    # Reading a trace does not change it; each read is one event of its own.
    second = client.get("/v1/audit", params={"trace_id": turn["trace_id"]}, headers=auth("ada.auditor"))
    assert second.json()["records"] == records and _trace(second) != _trace(first)
    assert _head(client) == before + 2

    newest = client.get("/v1/audit", params={"limit": 2}, headers=auth("ian.admin"))
    assert [r["seq"] for r in newest.json()["records"]] == [before + 1, before + 2]  # not itself
    assert _only(client, _trace(newest)).payload == {"read": "tail", "via": "api", "limit": 2,
                                                     "include_reads": True, "count": 2, "first_seq": before + 1,
                                                     "last_seq": before + 2}
    turns_only = client.get("/v1/audit", params={"limit": 3, "include_reads": "false"}, headers=auth("ada.auditor"))
    assert [r["trace_id"] for r in turns_only.json()["records"]][-1] == turn["trace_id"]
    assert "audit_read" not in {r["kind"] for r in turns_only.json()["records"]}

    verify = client.get("/v1/audit/verify", headers=auth("ada.auditor"))
    report = verify.json()
    assert report["ok"] is True and report["checked"] == report["head"]["seq"] == before + 4
    assert _only(client, _trace(verify)).payload == {"read": "verify", "via": "api", "ok": True,
                                                     "checked": before + 4, "head_seq": before + 4}
    assert client.get("/v1/audit/verify", headers=auth("ada.auditor")).json()["checked"] == before + 5


def test_audited_refusals_are_rate_limited_per_user(home: Path) -> None:
    with TestClient(create_app(api_settings(home, JIDOKA_RATE_LIMIT_PER_MIN="2"))) as limited:
        before = _head(limited)
        codes = [limited.get("/v1/audit", headers=auth("pat.planner")) for _ in range(3)]
        assert [r.status_code for r in codes] == [403, 403, 429]
        assert "x-jidoka-trace" not in codes[-1].headers and _head(limited) == before + 2
        assert limited.get("/v1/audit", headers=auth("paz.planner")).status_code == 403  # a budget per user


def test_a_streamed_follow_up_reads_its_thread_once_before_streaming(client: TestClient,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    thread_id = client.post("/v1/chat", json={"message": QUESTION},
                            headers={**auth("pat.planner"), **AS_JSON}).json()["thread_id"]
    copilot = _services(client).copilot
    reads: list[str] = []
    real = copilot.graph.get_state

    def counting(config: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append(config["configurable"]["thread_id"])
        return real(config, *args, **kwargs)

    monkeypatch.setattr(copilot.graph, "get_state", counting)
    stream = client.post("/v1/chat", json={"message": "and which work orders are late?", "thread_id": thread_id},
                         headers=auth("pat.planner"))
    assert stream.status_code == 200
    assert [name for name, _ in sse_events(stream.text)][-1] == "done"
    # One read for the precheck (owner and pause together), one for the turn's own checks before it runs.
    assert reads == [thread_id, thread_id]
