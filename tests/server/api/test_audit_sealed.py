"""The audit API on a sealed home: texts open for the auditor, and verify names what retention destroyed."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from guardrails.audit.retention import purge
from guardrails.policy.retention import RetentionRules
from server.api.deps import Services
from server.app import create_app
from tests.server.api.conftest import api_settings, auth, plant_home

KEK = base64.b64encode(bytes(range(32))).decode()


def test_sealed_texts_read_plain_then_purged_and_verify_lists_the_ranges(demo_home: Path, tmp_path: Path) -> None:
    home = plant_home(demo_home, tmp_path / "home")
    with TestClient(create_app(api_settings(home, JIDOKA_AUDIT_KEK=KEK)), raise_server_exceptions=False) as client:
        question = "stock of RM-3001 at P100"
        turn = client.post("/v1/chat", json={"message": question},
                           headers={**auth("pat.planner"), "Accept": "application/json"}).json()
        events = client.get(f"/v1/audit?trace_id={turn['trace_id']}", headers=auth("ada.auditor")).json()["records"]
        assert next(e for e in events if e["kind"] == "prompt")["payload"]["text"] == question

        services: Services = client.app.state.services  # type: ignore[attr-defined]
        log = services.runtime.audit
        assert log.sealer is not None
        report = purge(log, log.sealer.keys, RetentionRules.from_policy(services.runtime.policy),
                       today=date(2099, 1, 1), by="test", policy_hash=services.runtime.policy.hash, trace_id="p-1")
        assert {k.kind for k in report.destroyed} == {"prompt", "answer", "model_request", "model_response"}

        verify = client.get("/v1/audit/verify", headers=auth("ada.auditor")).json()
        assert verify["ok"] is True
        assert sorted(r["kind"] for r in verify["redacted"]) == ["answer", "model_request", "model_response", "prompt"]
        assert all(r["first_seq"] is not None and r["events"] >= 1 for r in verify["redacted"])
        events = client.get(f"/v1/audit?trace_id={turn['trace_id']}", headers=auth("ada.auditor")).json()["records"]
        assert next(e for e in events if e["kind"] == "prompt")["payload"]["text"].startswith("[purged by retention")
