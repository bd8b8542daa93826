"""The real app under uvicorn in a background thread, and Debian's Chromium for Playwright — for the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
"""Without the background-networking flags Chromium keeps trying to reach Google's hosts on this closed network."""


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing — but fail in CI (``CI`` or ``JIDOKA_REQUIRE_BROWSER`` set)."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package")
    if not missing:
        return
    reason = f"browser test needs {' and '.join(missing)}"
    if os.environ.get("CI") or os.environ.get("JIDOKA_REQUIRE_BROWSER"):
        pytest.fail(f"{reason}; CI requires it (CI / JIDOKA_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


def demo_settings_env(demo_home: Path, home: Path) -> dict[str, str]:
    """A fresh JIDOKA_HOME holding a copy of the demo plant (the test changes it), with demo login on."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_home / "plant.db", home / "plant.db")
    shutil.copyfile(demo_home / "plant_manifest.json", home / "plant_manifest.json")
    return {"JIDOKA_HOME": str(home), "JIDOKA_MODEL": "rules", "JIDOKA_DEMO_LOGIN": "1",
            "JIDOKA_JWT_SECRET": "browser-test-secret-" + "x" * 24}


@contextmanager
def live_server(app: object, *, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a daemon thread; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start within {timeout_s} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()


def artifacts_dir(tmp_path: Path) -> Path:
    """Where a browser test puts its screenshots: ``$JIDOKA_TEST_ARTIFACTS/browser`` (CI keeps them), else the test's
    tmp dir; printed so a failing run says where to look."""
    artifacts = Path(os.environ.get("JIDOKA_TEST_ARTIFACTS") or tmp_path) / "browser"
    artifacts.mkdir(parents=True, exist_ok=True)
    print(f"browser test screenshots: {artifacts}")
    return artifacts
