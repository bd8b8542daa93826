"""The network guard (tests/netguard.py): tests stay offline; loopback and unix sockets still work."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.testing.openai_stub import OpenAIStub
from tests.netguard import DUMMY_OPENAI_KEY, OFFLINE_HINT, NetGuard, NetworkBlocked

REPO = Path(__file__).resolve().parents[2]
# TEST-NET / documentation addresses: never routed; the guard raises before connect() anyway.
FAR_V4 = ("10.255.255.1", 443)
FAR_V6 = ("2001:db8::1", 443, 0, 0)


@pytest.fixture(autouse=True)
def _guard_loaded(request: pytest.FixtureRequest) -> None:
    if not request.config.pluginmanager.has_plugin("tests.netguard"):
        pytest.fail("the network guard is not loaded: "
                    'tests/conftest.py needs `pytest_plugins = ["tests.netguard"]`')


@pytest.fixture
def blocked(netguard: NetGuard) -> Iterator[NetGuard]:
    """For tests that provoke a block on purpose: the attempts they make are taken, not blamed on them."""
    yield netguard
    netguard.take()


def test_ipv4_connect_is_blocked_before_anything_is_sent(blocked: NetGuard) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, \
            pytest.raises(NetworkBlocked) as info:
        sock.connect(FAR_V4)
    assert str(info.value) == f"test tried to reach 10.255.255.1:443: {OFFLINE_HINT}"
    assert blocked.take() == ["10.255.255.1:443"]


def test_create_connection_and_connect_ex_are_blocked(blocked: NetGuard) -> None:
    with pytest.raises(NetworkBlocked, match=r"10\.255\.255\.1:443"):
        socket.create_connection(FAR_V4, timeout=0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(NetworkBlocked):
            sock.connect_ex(("192.0.2.7", 53))
        with pytest.raises(NetworkBlocked):
            sock.sendto(b"x", ("192.0.2.7", 53))
    assert blocked.take() == ["10.255.255.1:443", "192.0.2.7:53", "192.0.2.7:53"]


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 support in this Python build")
def test_ipv6_connect_is_blocked(blocked: NetGuard) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlocked):
        sock.connect(FAR_V6)
    assert blocked.take() == ["[2001:db8::1]:443"]


def test_host_names_are_not_resolved(blocked: NetGuard) -> None:
    with pytest.raises(NetworkBlocked, match=r"api\.openai\.com:443"):
        socket.create_connection(("api.openai.com", 443), timeout=0.5)
    with pytest.raises(NetworkBlocked, match=r"example\.com:80"):
        socket.getaddrinfo("example.com", 80)
    assert blocked.take() == ["api.openai.com:443", "example.com:80"]


def test_asyncio_connections_are_blocked(blocked: NetGuard) -> None:
    async def reach() -> None:
        await asyncio.open_connection(*FAR_V4)

    with pytest.raises(NetworkBlocked):
        asyncio.run(reach())
    assert blocked.take() == ["10.255.255.1:443"]


def test_httpx_to_a_real_host_is_blocked(blocked: NetGuard) -> None:
    with pytest.raises(NetworkBlocked):
        httpx.get("http://10.255.255.1/v1/models", timeout=0.5)
    assert blocked.take() == ["10.255.255.1:80"]


def test_loopback_works(openai_stub: OpenAIStub, netguard: NetGuard) -> None:
    assert httpx.get(f"{openai_stub.base_url}/models").status_code == 200
    port = openai_stub.base_url.rsplit(":", 1)[1].split("/")[0]
    assert httpx.get(f"http://localhost:{port}/v1/models").json()["data"][0]["id"] == "stub-model"
    assert netguard.since_mark() == []


def test_unix_sockets_work(netguard: NetGuard) -> None:
    with tempfile.TemporaryDirectory(prefix="ng") as folder:  # short path: unix socket paths are limited
        path = os.path.join(folder, "s")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server, \
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            server.bind(path)
            server.listen(1)
            client.connect(path)
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
    assert netguard.since_mark() == []


def test_provider_settings_are_neutralised() -> None:
    assert os.environ["OPENAI_API_KEY"] == DUMMY_OPENAI_KEY
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "JIDOKA_MODEL", "HTTPS_PROXY", "LANGSMITH_TRACING"):
        assert name not in os.environ


def test_a_swallowed_attempt_still_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent("""
        import socket

        def test_swallows():
            try:
                socket.create_connection(("10.255.255.1", 443), timeout=0.5)
            except Exception:
                pass  # e.g. a fallback that hides the error

        def test_offline():
            assert True
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # No plugin autoload: the inner run needs only the guard (langsmith's plugin alone takes ~1.5 s).
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "pytest", "-p", "tests.netguard", "-p", "no:cacheprovider", "-q", "-rf",
               "test_inner.py"]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert f"test tried to reach 10.255.255.1:443: {OFFLINE_HINT}" in run.stdout
    assert "FAILED test_inner.py::test_swallows" in run.stdout
