"""Failures reach clients as short messages: no tracebacks, typed settings errors, CORS for embedding pages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.api.deps import Services
from server.app import create_app
from server.settings import Settings, SettingsError
from tests.server.api.conftest import api_settings, auth, sse_events


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def test_an_internal_failure_is_a_short_500_and_a_log_entry(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    copilot = _services(client).copilot

    def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("secret internal detail /srv/db.sqlite")

    monkeypatch.setattr(copilot, "ask", broken)  # fault injection: the turn itself blows up
    with caplog.at_level(logging.ERROR, logger="jidoka.api"):
        as_json = client.post("/v1/chat", json={"message": "hello"},
                              headers={**auth("pat.planner"), "Accept": "application/json"})
        streamed = client.post("/v1/chat", json={"message": "hello"}, headers=auth("pat.planner"))
    assert as_json.status_code == 500
    assert as_json.json() == {"detail": "internal error; the server log has the details"}
    assert streamed.status_code == 200  # the stream had started: the failure is its last event
    assert sse_events(streamed.text) == [("error", {"message": "internal error: the turn failed; see the server log",
                                                    "status": 500})]
    assert "secret internal detail" not in as_json.text + streamed.text
    assert sum("secret internal detail" in (r.exc_text or "") or "secret internal detail" in str(r.exc_info)
               for r in caplog.records) == 2


def test_record_ids_with_a_slash_work_encoded(client: TestClient) -> None:
    plain = client.get("/v1/records/PO-1/2", headers=auth("bea.buyer"))
    encoded = client.get("/v1/records/PO-1%2F2", headers=auth("bea.buyer"))
    assert plain.status_code == encoded.status_code == 404
    assert plain.json()["detail"] == encoded.json()["detail"] == "no po line PO-1/2 in your scope"


@pytest.mark.parametrize(("name", "value"), [
    ("JIDOKA_MAX_BODY_BYTES", "lots"), ("JIDOKA_MAX_MESSAGE_CHARS", "0"), ("JIDOKA_RATE_LIMIT_PER_MIN", "-1"),
    ("JIDOKA_DEMO_LOGIN", "maybe"), ("JIDOKA_CORS_ORIGINS", "erp.example.com"),
])
def test_bad_server_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_the_secret_is_never_printed() -> None:
    assert "tests-only" not in repr(Settings.from_env({"JIDOKA_JWT_SECRET": "tests-only-secret"}))


def test_cors_only_for_configured_origins(client: TestClient, home: Path) -> None:
    preflight = {"Origin": "https://erp.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    assert "access-control-allow-origin" not in client.options("/v1/chat", headers=preflight).headers
    with TestClient(create_app(api_settings(home, JIDOKA_CORS_ORIGINS="https://erp.example.com"))) as cors:
        allowed = cors.options("/v1/chat", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://erp.example.com"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        other = cors.options("/v1/chat", headers={**preflight, "Origin": "https://evil.example"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
