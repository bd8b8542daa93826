"""``/v1/signals``: the monitor's signals for the people they concern, responses with reasons, refusals audited, and
an approval of a signal's request over the API executing it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from guardrails.audit.log import AuditKind
from server.api.deps import Services
from server.app import create_app
from tests.server.api.conftest import api_settings, auth, plant_home


@pytest.fixture(scope="module")
def client(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on a private plant, with one monitor run made (the scheduled mode off)."""
    home = plant_home(demo_home, tmp_path_factory.mktemp("signals-home"))
    with TestClient(create_app(api_settings(home, JIDOKA_MONITOR_INTERVAL_S="0")),
                    raise_server_exceptions=False) as test_client:
        monitor = _services(test_client).runtime.monitor
        assert monitor is not None
        monitor.run()
        yield test_client


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def _signals(client: TestClient, user: str, status: str = "active") -> list[dict[str, Any]]:
    response = client.get("/v1/signals", params={"status": status}, headers=auth(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["signals"])
    return list(body["signals"])


def _spike(client: TestClient, manifest: dict[str, Any]) -> dict[str, Any]:
    lot = manifest["scenarios"]["scrap_spike"]["lot_id"]
    return next(s for s in _signals(client, "quinn.quality") if s["figures"].get("lot_id") == lot)


def _last(client: TestClient, kind: AuditKind) -> Any:
    return [r for r in _services(client).runtime.audit.tail(50) if r.kind == kind.value][-1]


def test_each_user_sees_the_signals_of_their_sites_and_roles(client: TestClient) -> None:
    quinn = _signals(client, "quinn.quality")
    assert quinn and all(s["site_id"] == "P100" for s in quinn)
    assert {s["detector"] for s in quinn} <= {"scrap_spike", "parameter_drift", "cross_system"}
    qiu = _signals(client, "qiu.quality")
    assert all(s["site_id"] == "P200" for s in qiu)
    eve = _signals(client, "eve.exec")
    assert {s["site_id"] for s in eve} == {"P100", "P200"} and len(eve) >= len(quinn)
    assert len(_signals(client, "ada.auditor")) == len(eve)  # audit.read: every signal (its events are in the trail)


def test_a_hidden_signal_reads_like_a_missing_one_and_both_are_audited(client: TestClient,
                                                                       demo_manifest: dict[str, Any]) -> None:
    spike = _spike(client, demo_manifest)
    hidden = client.get(f"/v1/signals/{spike['signal_id']}", headers=auth("qiu.quality"))
    missing = client.get("/v1/signals/SIG-FFFFFFFFFF", headers=auth("qiu.quality"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(spike["signal_id"], "ID") == \
        missing.json()["detail"].replace("SIG-FFFFFFFFFF", "ID")
    error = _last(client, AuditKind.ERROR)
    assert error.payload["error"] == "signal_not_found" and error.user_id == "qiu.quality"
    seen = client.get(f"/v1/signals/{spike['signal_id']}", headers=auth("quinn.quality"))
    assert seen.status_code == 200 and seen.json()["proposals"][0]["action"] == "place_quality_hold"


def test_a_response_needs_a_reason_and_a_refusal_is_audited(client: TestClient,
                                                           demo_manifest: dict[str, Any]) -> None:
    spike = _spike(client, demo_manifest)
    url = f"/v1/signals/{spike['signal_id']}/acknowledge"
    assert client.post(url, json={}, headers=auth("quinn.quality")).status_code == 422
    refused = client.post(url, json={"reason": "I watch it"}, headers=auth("eve.exec"))  # a watcher only
    assert refused.status_code == 403 and "signals.role" in refused.json()["detail"]
    event = _last(client, AuditKind.SIGNAL_RESPONSE)
    assert event.payload["effect"] == "deny" and event.trace_id == refused.headers["X-Jidoka-Trace"]
    acked = client.post(url, json={"reason": "checking the film lot now"}, headers=auth("quinn.quality"))
    assert acked.status_code == 200 and acked.json()["signal"]["status"] == "acknowledged"
    assert acked.json()["signal"]["may_respond"] is True and len(acked.json()["trace_id"]) == 32
    watched = client.get(f"/v1/signals/{spike['signal_id']}", headers=auth("eve.exec")).json()
    assert watched["may_respond"] is False  # a watcher sees it, the controls are not hers
    assert _last(client, AuditKind.SIGNAL_RESPONSE).payload["reason"] == "checking the film lot now"


def test_approving_a_signal_request_over_the_api_executes_it(client: TestClient,
                                                            demo_manifest: dict[str, Any]) -> None:
    spike = _spike(client, demo_manifest)
    request_id = spike["proposals"][0]["request_id"]
    inbox = client.get("/v1/approvals", headers=auth("sam.supervisor")).json()["approvals"]
    assert any(a["id"] == request_id for a in inbox)
    decided = client.post(f"/v1/approvals/{request_id}/approve", json={"comment": "contain it"},
                          headers=auth("sam.supervisor"))
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["resumed"]["status"] == "executed" and body["request"]["status"] == "executed"
    after = client.get(f"/v1/signals/{spike['signal_id']}", headers=auth("quinn.quality")).json()
    assert after["status"] == "actioned" and after["proposals"][1]["action"] == "open_supplier_review"
