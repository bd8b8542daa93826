"""Bearer-token auth: 401 for missing / forged / expired / unknown tokens, 403 by role, RS256 via a JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from server.app import create_app
from tests.server.api.conftest import SECRET, api_settings, auth, make_token


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}


def _rs256(key: rsa.RSAPrivateKey, kid: str, user: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": user, "iat": now, "exp": now + 600, "aud": "jidoka", "iss": "https://idp.example", **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def _hs256_with_public_key(key: rsa.RSAPrivateKey, payload: dict[str, Any]) -> str:
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(payload).encode())
    return (signing_input + b"." + b64(hmac.new(pem, signing_input, hashlib.sha256).digest())).decode()


# Headers are made when the test runs, not at collection: a token minted at collection expires (ttl 600 s) before
# its test runs when a slow, loaded run takes longer than that, and then fails for the wrong reason.
@pytest.mark.parametrize(("make_headers", "why"), [
    (lambda: {}, "bearer token is required"),
    (lambda: {"Authorization": "Basic cGF0OnB3"}, "bearer token is required"),
    (lambda: {"Authorization": "Bearer not-a-jwt"}, "not a JWT"),
    (lambda: auth("pat.planner", secret="another-secret-of-at-least-32-bytes!"), "signature"),
    (lambda: auth("pat.planner", ttl=-60), "expired"),
    (lambda: auth("mallory"), "not a user of the policy"),
    (lambda: {"Authorization": "Bearer " + jwt.encode({"sub": "pat.planner"}, SECRET, algorithm="HS256")}, "exp"),
], ids=["none", "basic", "not-jwt", "signature", "expired", "unknown-user", "no-exp"])
def test_bad_tokens_are_401(client: TestClient, make_headers: Callable[[], dict[str, str]], why: str) -> None:
    response = client.get("/v1/me", headers=make_headers())
    assert response.status_code == 401, response.text
    assert why in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_unsigned_token_is_401(client: TestClient) -> None:
    unsigned = jwt.encode({"sub": "ian.admin", "exp": int(time.time()) + 60}, None, algorithm="none")
    response = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401 and "'none' are not accepted" in response.json()["detail"]


def test_policy_roles_govern_not_token_claims(client: TestClient) -> None:
    # Pat's token claims the admin role and every site: ignored, the policy's planner at P100 is who asks.
    headers = auth("pat.planner", roles=["admin", "auditor"], sites=["*"])
    me = client.get("/v1/me", headers=headers).json()
    assert me == {"id": "pat.planner", "name": "Pat Planner", "roles": ["planner"], "sites": ["P100"],
                  "permissions": []}
    assert client.get("/v1/audit/verify", headers=headers).status_code == 403


@pytest.mark.parametrize(("user", "status"), [("ada.auditor", 200), ("ian.admin", 200), ("pat.planner", 403),
                                              ("eve.exec", 403)])
def test_audit_is_for_audit_read_roles_only(client: TestClient, user: str, status: int) -> None:
    verify = client.get("/v1/audit/verify", headers=auth(user))
    trail = client.get("/v1/audit", params={"limit": 5}, headers=auth(user))
    assert (verify.status_code, trail.status_code) == (status, status)
    if status == 200:
        assert verify.json()["ok"] is True
        assert verify.json()["anchor"]["configured"] is False  # no JIDOKA_AUDIT_SIGNING_KEY in these settings
    else:
        assert "audit.read" in verify.json()["detail"]


def test_tools_follow_the_callers_roles(client: TestClient) -> None:
    def names(user: str) -> set[str]:
        body = client.get("/v1/tools", headers=auth(user)).json()
        return {t["name"] for t in body["tools"]}

    planner, buyer, auditor = names("pat.planner"), names("bea.buyer"), names("ada.auditor")
    assert "items_below_reorder" in planner and "supplier_scorecard" not in planner
    assert "supplier_scorecard" in buyer and "scrap_analysis" not in buyer
    assert auditor == set()
    assert "place_quality_hold" in names("sam.supervisor")  # actions the caller may propose are listed too


def test_demo_login_is_off_unless_enabled(client: TestClient, home: Path) -> None:
    assert client.get("/v1/demo/users").status_code == 404
    assert client.post("/v1/demo/token", json={"user": "pat.planner"}).status_code == 404
    with TestClient(create_app(api_settings(home, JIDOKA_DEMO_LOGIN="1"))) as demo:
        users = demo.get("/v1/demo/users").json()
        assert {"id": "quinn.quality", "name": "Quinn Quality", "roles": ["quality_engineer"],
                "sites": ["P100"]} in users
        minted = demo.post("/v1/demo/token", json={"user": "quinn.quality"}).json()
        assert minted["user"]["id"] == "quinn.quality"
        assert demo.get("/v1/me", headers={"Authorization": f"Bearer {minted['token']}"}).json()["id"] == \
            "quinn.quality"
        unknown = demo.post("/v1/demo/token", json={"user": "mallory"})
        assert unknown.status_code == 404 and unknown.json()["field"] == "user"


def test_rs256_tokens_are_checked_against_the_jwks(home: Path) -> None:
    key, other = _rsa(), _rsa()
    fetched: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return _jwks(key, "k1")

    settings = api_settings(home, JIDOKA_JWKS_URL="https://idp.example/jwks", JIDOKA_JWT_AUDIENCE="jidoka",
                            JIDOKA_JWT_ISSUER="https://idp.example")
    with TestClient(create_app(settings, jwks_fetcher=fetch)) as oidc:
        ok = oidc.get("/v1/me", headers={"Authorization": f"Bearer {_rs256(key, 'k1', 'bea.buyer')}"})
        assert ok.status_code == 200 and ok.json()["id"] == "bea.buyer"
        cases = {
            "signature": _rs256(other, "k1", "bea.buyer"),
            "does not publish": _rs256(other, "k2", "bea.buyer"),
            "Audience": _rs256(key, "k1", "bea.buyer", aud="someone-else"),
            "Invalid issuer": _rs256(key, "k1", "bea.buyer", iss="https://evil.example"),
            "not a user of the policy": _rs256(key, "k1", "mallory"),
        }
        for why, token in cases.items():
            response = oidc.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401 and why in response.json()["detail"], (why, response.text)
        # HS256 demo tokens keep working beside the provider's (the demo secret is set too) — with the configured
        # audience and issuer, which bind them as well.
        assert oidc.get("/v1/me", headers=auth("pat.planner", aud="jidoka", iss="https://idp.example")).status_code \
            == 200
        assert oidc.get("/v1/me", headers=auth("pat.planner")).status_code == 401
        # An HS256 token MACed with the provider's *public* key must never verify (algorithm confusion).
        forged = _hs256_with_public_key(key, {"sub": "ian.admin", "exp": int(time.time()) + 60})
        assert oidc.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert fetched[0] == "https://idp.example/jwks"
    assert len(fetched) <= 2  # an unknown kid refreshes at most once a minute


class _Jwks(BaseHTTPRequestHandler):
    document: bytes = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.document)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    key = _rsa()
    handler = type("Handler", (_Jwks,), {"document": json.dumps(_jwks(key, "local")).encode()})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    server.shutdown()
    server.server_close()


def test_rs256_with_a_jwks_served_over_http(home: Path, jwks_server: tuple[str, rsa.RSAPrivateKey]) -> None:
    url, key = jwks_server
    with TestClient(create_app(api_settings(home, JIDOKA_JWKS_URL=url))) as oidc:
        token = _rs256(key, "local", "quinn.quality")
        assert oidc.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["id"] == "quinn.quality"


def test_expired_demo_token_from_the_cli_is_refused(client: TestClient) -> None:
    stale = make_token("pat.planner", ttl=-3600)
    assert client.get("/v1/tools", headers={"Authorization": f"Bearer {stale}"}).status_code == 401


def test_jidoka_token_mints_what_the_server_accepts(client: TestClient, home: Path) -> None:
    from typer.testing import CliRunner

    from server.cli import build_app

    env = {"JIDOKA_HOME": str(home), "JIDOKA_JWT_SECRET": SECRET}
    minted = CliRunner().invoke(build_app(), ["token", "--as", "quinn.quality", "--ttl", "120"], env=env)
    assert minted.exit_code == 0, minted.output
    token = minted.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "quinn.quality" and claims["roles"] == ["quality_engineer"] and claims["sites"] == ["P100"]
    assert 100 <= claims["exp"] - claims["iat"] <= 120
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["id"] == "quinn.quality"
    unknown = CliRunner().invoke(build_app(), ["token", "--as", "mallory"], env=env)
    assert unknown.exit_code == 1 and "unknown user 'mallory'" in unknown.stderr
    no_secret = CliRunner().invoke(build_app(), ["token", "--as", "pat.planner"], env={"JIDOKA_HOME": str(home),
                                                                                      "JIDOKA_JWT_SECRET": ""})
    assert no_secret.exit_code == 1 and "JIDOKA_JWT_SECRET" in no_secret.stderr
