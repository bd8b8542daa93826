"""pytest plugin: tests stay offline.

Enabled from ``tests/conftest.py`` with ``pytest_plugins = ["tests.netguard"]``. For the whole session:

- a socket ``connect`` / ``connect_ex`` / ``sendto`` to a non-loopback IPv4 or IPv6 address, and
  resolving a host name other than ``localhost`` / this machine, raise :class:`NetworkBlocked`
  before anything is sent (this covers ``socket.create_connection``, httpx, requests and asyncio);
  loopback, unix sockets and other families are allowed;
- every blocked attempt is recorded, and a test during which one happened fails even when the
  code under test swallowed the exception (retries, fallbacks);
- provider settings are made harmless: ``OPENAI_API_KEY`` is a dummy, provider base URLs, other
  keys, proxies, LangSmith tracing, OpenTelemetry's ``OTEL_*`` and ``JIDOKA_MODEL`` are unset, so no test can pick up a
  developer's real key or endpoint.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Generator
from typing import Any

import pytest

__all__ = ["DUMMY_OPENAI_KEY", "OFFLINE_HINT", "NetGuard", "NetworkBlocked"]

OFFLINE_HINT = "tests must stay offline — use agent.scripted.ScriptedChatModel or agent.testing.openai_stub"
DUMMY_OPENAI_KEY = "sk-jidoka-tests-offline-dummy"

_UNSET_ENV = (
    "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID", "OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID",
    "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OLLAMA_HOST",
    "JIDOKA_MODEL", "LANGCHAIN_TRACING_V2", "LANGCHAIN_API_KEY", "LANGCHAIN_ENDPOINT", "LANGSMITH_TRACING",
    "LANGSMITH_API_KEY", "LANGSMITH_ENDPOINT", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
    "https_proxy", "all_proxy",
)
_SET_ENV = {
    "OPENAI_API_KEY": DUMMY_OPENAI_KEY,
    "NO_PROXY": "127.0.0.1,localhost,::1",
    "no_proxy": "127.0.0.1,localhost,::1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb
    "HF_HUB_OFFLINE": "1",
}
_GUARD_KEY = pytest.StashKey["NetGuard"]()
_ENV_KEY = pytest.StashKey[pytest.MonkeyPatch]()


class NetworkBlocked(RuntimeError):
    """A test tried to reach the network. Not an ``OSError``, so connection-retry code does not hide it."""

    def __init__(self, target: str) -> None:
        self.target = target
        super().__init__(f"test tried to reach {target}: {OFFLINE_HINT}")


def _is_local(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False  # a host name: only reachable through resolution, which is guarded separately
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or ip.is_unspecified or (mapped is not None and mapped.is_loopback)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _target(host: str, port: object) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class NetGuard:
    """The installed guard: what it blocked, and (for tests of the guard) a way to take blocked attempts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._violations: list[str] = []
        self._mark = 0
        self._hostnames: frozenset[str] = frozenset()
        self._patch = pytest.MonkeyPatch()

    # ---- checks ------------------------------------------------------------------------------------------

    def _block(self, target: str) -> NetworkBlocked:
        with self._lock:
            self._violations.append(target)
        return NetworkBlocked(target)

    def check_address(self, family: int, address: Any) -> None:
        """Raise :class:`NetworkBlocked` when ``address`` (of socket ``family``) is not loopback."""
        if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple) or not address:
            return  # unix sockets, netlink, ...: not the network
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        if not _is_local(host):
            raise self._block(_target(host, address[1] if len(address) > 1 else "?"))

    def check_name(self, host: Any, port: Any) -> None:
        """Raise :class:`NetworkBlocked` when resolving ``host`` would ask a DNS server."""
        if host is None:
            return
        name = host.decode() if isinstance(host, bytes) else str(host)
        if _is_local(name) or _is_ip(name) or name.lower() in self._hostnames:
            return
        raise self._block(_target(name, port))

    # ---- bookkeeping -------------------------------------------------------------------------------------

    def since_mark(self) -> list[str]:
        """Blocked targets since the current test phase began."""
        with self._lock:
            return self._violations[self._mark:]

    def set_mark(self) -> None:
        """Start a new test phase."""
        with self._lock:
            self._mark = len(self._violations)

    def take(self) -> list[str]:
        """Remove and return the blocked targets of the current phase (for tests that expect a block)."""
        with self._lock:
            taken = self._violations[self._mark:]
            del self._violations[self._mark:]
            return taken

    # ---- install -----------------------------------------------------------------------------------------

    def install(self) -> None:
        """Patch ``socket`` so non-loopback traffic is refused."""
        self._hostnames = frozenset(n.lower() for n in {socket.gethostname()} if n)
        guard = self
        real_connect: Callable[..., Any] = socket.socket.connect
        real_connect_ex: Callable[..., Any] = socket.socket.connect_ex
        real_sendto: Callable[..., Any] = socket.socket.sendto
        real_getaddrinfo: Callable[..., Any] = socket.getaddrinfo

        def connect(sock: socket.socket, address: Any) -> None:
            guard.check_address(sock.family, address)
            real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard.check_address(sock.family, address)
            return int(real_connect_ex(sock, address))

        def sendto(sock: socket.socket, data: Any, *args: Any) -> int:
            if args:
                guard.check_address(sock.family, args[-1])
            return int(real_sendto(sock, data, *args))

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            guard.check_name(host, port)
            return real_getaddrinfo(host, port, *args, **kwargs)

        self._patch.setattr(socket.socket, "connect", connect)
        self._patch.setattr(socket.socket, "connect_ex", connect_ex)
        self._patch.setattr(socket.socket, "sendto", sendto)
        self._patch.setattr(socket, "getaddrinfo", getaddrinfo)

    def uninstall(self) -> None:
        """Restore ``socket``."""
        self._patch.undo()


def _offline_env() -> pytest.MonkeyPatch:
    env = pytest.MonkeyPatch()
    for name in _UNSET_ENV:
        env.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("OTEL_")]:  # a developer's collector gets no test spans
        env.delenv(name, raising=False)
    for name, value in _SET_ENV.items():
        env.setenv(name, value)
    return env


def pytest_configure(config: pytest.Config) -> None:
    """Install the guard and the offline environment for the whole session."""
    guard = NetGuard()
    guard.install()
    config.stash[_GUARD_KEY] = guard
    config.stash[_ENV_KEY] = _offline_env()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Undo what :func:`pytest_configure` did."""
    if _GUARD_KEY in config.stash:
        config.stash[_GUARD_KEY].uninstall()
        del config.stash[_GUARD_KEY]
    if _ENV_KEY in config.stash:
        config.stash[_ENV_KEY].undo()
        del config.stash[_ENV_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Fail a test phase during which a network attempt was blocked, even if the code swallowed it."""
    report = yield
    guard = item.config.stash.get(_GUARD_KEY, None)
    if guard is None:
        return report
    blocked = guard.since_mark()
    guard.set_mark()
    if blocked:
        message = f"test tried to reach {', '.join(blocked)}: {OFFLINE_HINT}"
        if report.passed:
            report.outcome = "failed"
            report.longrepr = message
        else:
            report.sections.append(("netguard", message))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test's setup phase starts: attempts made between tests are not blamed on it."""
    guard = item.config.stash.get(_GUARD_KEY, None)
    if guard is not None:
        guard.set_mark()


@pytest.fixture
def netguard(request: pytest.FixtureRequest) -> NetGuard:
    """The session's guard (for tests of the guard itself)."""
    return request.config.stash[_GUARD_KEY]
