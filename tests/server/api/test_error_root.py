"""Every package's errors derive from JidokaError; the CLI and the HTTP handler turn any of them into one clear
message (exit 1 / a JSON error body), never a traceback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from agent.errors import ThreadNotYours
from evals.errors import SuiteNotFound
from guardrails.errors import UnknownUser
from knowledge.errors import JidokaError, StoreUnavailable
from server.api.deps import Services
from server.cli import main
from server.errors import SettingsError
from tests.server.api.conftest import auth
from tools.errors import PlantNotInitialized

ONE_PER_PACKAGE = [
    StoreUnavailable("the knowledge store at http://127.0.0.1:9/ is not reachable"),
    PlantNotInitialized("sqlite:///nowhere/plant.db"),
    UnknownUser("mallory"),
    ThreadNotYours("thread-1"),
    SuiteNotFound("nope", ["utility"]),
    SettingsError("JIDOKA_TODAY must be an ISO date like 2026-03-02, got 'bad'"),
]


@pytest.mark.parametrize("error", ONE_PER_PACKAGE, ids=lambda e: type(e).__name__)
def test_every_package_error_is_a_jidoka_error_and_one_cli_line(error: JidokaError,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(error, JidokaError)

    def failing() -> None:
        raise error

    monkeypatch.setattr("server.cli.plant.default_catalog", failing)  # `jidoka tools` reads the catalog first
    with pytest.raises(SystemExit) as exit_info:
        main(["tools"])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert err.strip().startswith("error:") and str(error) in " ".join(err.split())
    assert "Traceback" not in err and "internal error" not in err


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


@pytest.mark.parametrize(("error", "status"), [
    (StoreUnavailable("the knowledge store at http://127.0.0.1:9/ is not reachable"), 503),
    (PlantNotInitialized("sqlite:///nowhere/plant.db"), 500),
], ids=["unavailable", "other"])
def test_an_unmapped_jidoka_error_is_its_message_over_http(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                          error: JidokaError, status: int) -> None:
    def failing(*_args: object, **_kw: object) -> None:
        raise error

    monkeypatch.setattr(_services(client).copilot, "ask", failing)
    response = client.post("/v1/chat", json={"message": "hello"},
                           headers={**auth("pat.planner"), "Accept": "application/json"})
    assert response.status_code == status
    assert response.json() == {"detail": str(error)}
    assert "Traceback" not in response.text
