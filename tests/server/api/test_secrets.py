"""The HTTP API prints no secret: a typed error's message is masked in its body and log, and an unexpected error's
traceback reaches the log handlers masked."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from knowledge.errors import StoreUnavailable
from server.api.deps import Services
from server.app import create_app
from server.secrets import SecretFilter, install_log_masking
from tests.server.api.conftest import SECRET, api_settings, auth

PASSWORD = "s3cret-api-Password"


@pytest.fixture(scope="module")
def masked_client(home: Path) -> Iterator[TestClient]:
    """The app on settings with a password in a URL (an OpenAI-compatible server the rules model never calls)."""
    settings = api_settings(home, OPENAI_BASE_URL=f"http://jidoka:{PASSWORD}@127.0.0.1:9/v1")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def _chat(client: TestClient) -> tuple[int, str]:
    response = client.post("/v1/chat", json={"message": "hello"},
                           headers={**auth("pat.planner"), "Accept": "application/json"})
    return response.status_code, response.text


def test_a_typed_error_is_masked_in_the_body_and_the_log(masked_client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    def failing(*_args: object, **_kw: object) -> None:
        raise StoreUnavailable(f"the store at http://jidoka:{PASSWORD}@chroma:8000 refused the key {SECRET}")

    monkeypatch.setattr(_services(masked_client).copilot, "ask", failing)
    with caplog.at_level(logging.WARNING, logger="jidoka.api"):
        status, body = _chat(masked_client)
    assert status == 503
    assert "the store at http://jidoka:***@chroma:8000 refused the key ***" in body
    assert PASSWORD not in body + caplog.text and SECRET not in body + caplog.text


def test_an_unexpected_error_is_logged_through_the_masking_filter(masked_client: TestClient,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*_args: object, **_kw: object) -> None:
        raise RuntimeError(f"lost {SECRET} and password={PASSWORD}")

    monkeypatch.setattr(_services(masked_client).copilot, "ask", failing)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_log_masking(_services(masked_client).settings)  # what `jidoka serve` does
        status, body = _chat(masked_client)
    finally:
        root.removeHandler(handler)
    assert any(isinstance(f, SecretFilter) for f in handler.filters)
    logged = stream.getvalue()
    assert status == 500 and "internal error" in body
    assert "unhandled error on POST /v1/chat" in logged and "RuntimeError: lost *** and password=***" in logged
    assert SECRET not in logged + body and PASSWORD not in logged + body
