"""Issue 16, finding 7(b): a bearer token's lifetime is bounded (JIDOKA_JWT_MAX_TTL_S, measured exp − iat), ``iat``
is required, and ``iss`` / ``aud`` are checked for HS256 tokens too when they are configured."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from server.app import create_app
from server.cli import build_app
from server.settings import Settings, SettingsError
from tests.server.api.conftest import SECRET, api_settings, auth, make_token

_TEN_YEARS = 10 * 365 * 24 * 3600


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_valid_for_ten_years_is_refused(client: TestClient) -> None:
    response = client.get("/v1/me", headers=auth("pat.planner", ttl=_TEN_YEARS))
    assert response.status_code == 401, response.text
    detail = response.json()["detail"]
    assert "JIDOKA_JWT_MAX_TTL_S" in detail and "43200" in detail
    # Within the default maximum (12 h) the same token is fine.
    assert client.get("/v1/me", headers=auth("pat.planner", ttl=11 * 3600)).status_code == 200


def test_an_old_iat_does_not_stretch_the_lifetime(client: TestClient) -> None:
    # exp is an hour away, but the token was issued ten years ago: it has lived far longer than allowed.
    now = int(time.time())
    token = make_token("pat.planner", iat=now - _TEN_YEARS, exp=now + 3600)
    response = client.get("/v1/me", headers=_bearer(token))
    assert response.status_code == 401 and "JIDOKA_JWT_MAX_TTL_S" in response.json()["detail"]


def test_a_token_without_iat_is_refused(client: TestClient) -> None:
    token = jwt.encode({"sub": "pat.planner", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    response = client.get("/v1/me", headers=_bearer(token))
    assert response.status_code == 401, response.text
    assert '"iat"' in response.json()["detail"]


def test_the_maximum_is_a_setting(home: Path) -> None:
    with TestClient(create_app(api_settings(home, JIDOKA_JWT_MAX_TTL_S="300"))) as short:
        assert short.get("/v1/me", headers=auth("pat.planner", ttl=290)).status_code == 200
        refused = short.get("/v1/me", headers=auth("pat.planner", ttl=600))
        assert refused.status_code == 401 and "at most 300 s" in refused.json()["detail"]
    with pytest.raises(SettingsError, match="JIDOKA_JWT_MAX_TTL_S"):
        Settings.from_env({"JIDOKA_JWT_MAX_TTL_S": "forever"})
    with pytest.raises(SettingsError, match="JIDOKA_JWT_MAX_TTL_S must be between 60 and 2592000"):
        Settings.from_env({"JIDOKA_JWT_MAX_TTL_S": str(_TEN_YEARS)})


def test_issuer_and_audience_bind_hs256_tokens_when_set(home: Path) -> None:
    settings = api_settings(home, JIDOKA_JWT_AUDIENCE="jidoka", JIDOKA_JWT_ISSUER="https://login.example")
    right = {"aud": "jidoka", "iss": "https://login.example"}
    with TestClient(create_app(settings)) as bound:
        assert bound.get("/v1/me", headers=auth("pat.planner", **right)).status_code == 200
        cases = {
            "aud": auth("pat.planner", iss=right["iss"]),
            "Audience": auth("pat.planner", **{**right, "aud": "another-service"}),
            "Invalid issuer": auth("pat.planner", **{**right, "iss": "jidoka-demo"}),
            "iss": auth("pat.planner", aud=right["aud"]),
        }
        for why, headers in cases.items():
            response = bound.get("/v1/me", headers=headers)
            assert response.status_code == 401 and why in response.json()["detail"], (why, response.text)


def test_jidoka_token_respects_the_maximum_and_the_configured_claims(home: Path) -> None:
    env = {"JIDOKA_HOME": str(home), "JIDOKA_JWT_SECRET": SECRET}
    runner = CliRunner()
    too_long = runner.invoke(build_app(), ["token", "--as", "pat.planner", "--ttl", str(30 * 24 * 3600)], env=env)
    assert too_long.exit_code == 1 and too_long.stdout == ""
    assert "JIDOKA_JWT_MAX_TTL_S (43200 s)" in too_long.stderr
    short_env = {**env, "JIDOKA_JWT_MAX_TTL_S": "600", "JIDOKA_JWT_AUDIENCE": "jidoka",
                 "JIDOKA_JWT_ISSUER": "https://login.example"}
    minted = runner.invoke(build_app(), ["token", "--as", "pat.planner"], env=short_env)
    assert minted.exit_code == 0, minted.output
    claims = jwt.decode(minted.stdout.strip(), SECRET, algorithms=["HS256"], audience="jidoka")
    assert claims["exp"] - claims["iat"] == 600  # the 8 h default shortened to the configured maximum
    assert claims["iss"] == "https://login.example" and claims["aud"] == "jidoka"
    settings = api_settings(home, JIDOKA_JWT_MAX_TTL_S="600", JIDOKA_JWT_AUDIENCE="jidoka",
                            JIDOKA_JWT_ISSUER="https://login.example")
    with TestClient(create_app(settings)) as server:
        me = server.get("/v1/me", headers=_bearer(minted.stdout.strip()))
        assert me.status_code == 200 and me.json()["id"] == "pat.planner"
