"""Fixtures of the API tests: a private demo plant per test module, the app under TestClient, demo tokens."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings

SECRET = "tests-only-hs256-secret-of-32-bytes-or-more"

Token = Callable[..., str]


def plant_home(demo_home: Path, target: Path) -> Path:
    """A JIDOKA_HOME holding a private copy of the demo plant (approvals change it)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_home / "plant.db", target / "plant.db")
    return target


def api_settings(home: Path, **env: str) -> Settings:
    """Settings on ``home`` with the test token secret (``env`` adds or overrides variables)."""
    return Settings.from_env({"JIDOKA_HOME": str(home), "JIDOKA_JWT_SECRET": SECRET, "JIDOKA_MODEL": "rules", **env})


def make_token(user: str, *, secret: str = SECRET, ttl: int = 600, **claims: Any) -> str:
    """An HS256 token for ``user`` (extra claims override the defaults)."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": user, "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def auth(user: str, **kw: Any) -> dict[str, str]:
    """The Authorization header for ``user``."""
    return {"Authorization": f"Bearer {make_token(user, **kw)}"}


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body into (event, data) pairs (comments skipped)."""
    events = []
    for frame in body.split("\n\n"):
        lines = [line for line in frame.splitlines() if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads(next(line[6:] for line in lines if line.startswith("data: ")))
        events.append((name, data))
    return events


@pytest.fixture(scope="module")
def home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's JIDOKA_HOME (a private plant; state is created by the app)."""
    return plant_home(demo_home, tmp_path_factory.mktemp("api-home"))


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    """The app (lifespan running) under an httpx-based TestClient; server errors come back as responses."""
    with TestClient(create_app(api_settings(home)), raise_server_exceptions=False) as test_client:
        yield test_client
