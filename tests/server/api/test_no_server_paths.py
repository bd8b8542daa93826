"""Issue 16, finding 7(c): no HTTP response names a path of the server's disk.

The CLI runs on the operator's own machine and keeps paths in its lines; what an HTTP client reads — error
bodies, the chat stream's ``error`` event, the audit trail and its verification — shows a configured location
as its variable (``$JIDOKA_HOME/…``) and any other absolute path as ``<path>``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.errors import AgentError
from guardrails.audit.anchor import generate_signing_key
from knowledge.errors import StoreUnavailable
from server.api.deps import Services
from server.app import create_app
from server.errors import DatabaseUnreachable
from tests.server.api.conftest import api_settings, auth, plant_home, sse_events


@pytest.fixture(scope="module")
def broken_home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose knowledge folder is a file: the embedded index cannot be opened, and says where."""
    home = plant_home(demo_home, tmp_path_factory.mktemp("paths-home"))
    (home / "knowledge").write_text("not a folder\n", encoding="utf-8")
    return home


@pytest.fixture(scope="module")
def broken(broken_home: Path) -> Iterator[TestClient]:
    settings = api_settings(broken_home, JIDOKA_AUDIT_SIGNING_KEY=generate_signing_key())
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def _no_path(text: str, home: Path) -> None:
    assert str(home) not in text
    assert str(home.parent) not in text  # nor the temp folder it sits in


def test_the_knowledge_base_503_names_no_path(broken: TestClient, broken_home: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        response = broken.get("/v1/records/QP-004 §3", headers=auth("quinn.quality"))
    assert response.status_code == 503, response.text
    _no_path(response.text, broken_home)
    assert "the knowledge index cannot be opened or reached" in response.json()["detail"]
    assert f"{broken_home / 'knowledge'}" in caplog.text  # the operator's log keeps where


def test_the_audit_trail_of_that_failure_names_no_path(broken: TestClient, broken_home: Path) -> None:
    broken.get("/v1/records/QP-004 §3", headers=auth("quinn.quality"))
    trail = broken.get("/v1/audit", params={"limit": 20}, headers=auth("ada.auditor"))
    assert trail.status_code == 200
    errors = [r for r in trail.json()["records"] if r["kind"] == "error"]
    assert errors and "$JIDOKA_HOME/knowledge" in errors[-1]["payload"]["message"]
    _no_path(trail.text, broken_home)
    # The stored event keeps the operator's details, and the chain still verifies.
    stored = _services(broken).runtime.audit.tail(20)
    assert any(str(broken_home) in str(r.payload.get("message", "")) for r in stored)


def test_the_audit_check_names_no_anchor_path(broken: TestClient, broken_home: Path) -> None:
    response = broken.get("/v1/audit/verify", headers=auth("ada.auditor"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["anchor"]["configured"] is True
    assert body["anchor"]["files"] == ["$JIDOKA_AUDIT_ANCHOR"]
    _no_path(response.text, broken_home)


@pytest.mark.parametrize("make", [
    lambda home: StoreUnavailable(f"cannot open the knowledge index at {home}/knowledge: [Errno 17] File exists"),
    lambda home: DatabaseUnreachable("state database", "JIDOKA_STATE_URL", f"sqlite:///{home}/state.db",
                                     "unable to open database file"),
    lambda home: StoreUnavailable("cannot read /srv/elsewhere/jidoka/knowledge/chroma.sqlite3"),
], ids=["store-under-home", "sqlite-url", "other-path"])
def test_typed_errors_name_no_path(broken: TestClient, broken_home: Path, monkeypatch: pytest.MonkeyPatch,
                                   make: object) -> None:
    error = make(broken_home)  # type: ignore[operator]

    def failing(*_args: object, **_kw: object) -> None:
        raise error

    monkeypatch.setattr(_services(broken).copilot, "ask", failing)
    response = broken.post("/v1/chat", json={"message": "hello"},
                           headers={**auth("pat.planner"), "Accept": "application/json"})
    assert response.status_code in (500, 503)
    _no_path(response.text, broken_home)
    assert "/srv/elsewhere" not in response.text
    assert "$JIDOKA_HOME" in response.text or "<path>" in response.text


def test_the_chat_streams_error_event_names_no_path(broken: TestClient, broken_home: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*_args: object, **_kw: object) -> None:
        raise AgentError(f"the thread store {broken_home}/checkpoints.db is locked")

    monkeypatch.setattr(_services(broken).copilot, "ask", failing)
    response = broken.post("/v1/chat", json={"message": "hello"}, headers=auth("pat.planner"))
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["error"]
    assert events[0][1]["message"] == "the thread store $JIDOKA_HOME/checkpoints.db is locked"
    _no_path(response.text, broken_home)


@pytest.mark.parametrize(("text", "shown"), [
    ("at /srv/j/knowledge: [Errno 17] File exists: '/srv/j/knowledge'",
     "at $JIDOKA_HOME/knowledge: [Errno 17] File exists: '$JIDOKA_HOME/knowledge'"),
    ("sqlite:////srv/j/state.db, sqlite:////data/x.db, sqlite:///relative/plant.db",
     "sqlite:///$JIDOKA_HOME/state.db, sqlite:///<path>, sqlite:///relative/plant.db"),
    ("http://chroma:8000/api/v2 and http://h/a/b stay", "http://chroma:8000/api/v2 and http://h/a/b stay"),
    ("1/2 groups, and/or, P100/P200, 2026/03/02", "1/2 groups, and/or, P100/P200, 2026/03/02"),
    ("File \"/usr/lib/python3.11/x.py\", line 3 (in /opt/app)", "File \"<path>\", line 3 (in <path>)"),
    ("/srv/j/audit-anchors.jsonl:4: bad signature", "$JIDOKA_AUDIT_ANCHOR:4: bad signature"),
    ("/srv/jx/other", "<path>"),
])
def test_the_redactor(text: str, shown: str) -> None:
    from server.redaction import PathRedactor  # here, so the other tests of this module run on any version

    redactor = PathRedactor.of([(Path("/srv/j"), "$JIDOKA_HOME"),
                                (Path("/srv/j/audit-anchors.jsonl"), "$JIDOKA_AUDIT_ANCHOR"), (None, "unset")])
    assert redactor.redact(text) == shown
    assert redactor.redact_json({"a": [text, 1, None]}) == {"a": [shown, 1, None]}
