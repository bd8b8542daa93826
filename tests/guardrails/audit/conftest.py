"""Fixtures for audit-log tests: a state database and an audit log on it with a stepping clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from guardrails.audit.log import AuditLog
from tests.guardrails.audit.audit_helpers import StepClock
from tools.plant.db import make_engine


@pytest.fixture
def db_url(state_url: str) -> str:
    """The URL of a fresh state database, on each backend (SQLite and Postgres)."""
    return state_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the state database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def log(engine: Engine) -> AuditLog:
    """An audit log with its schema, stamping events one second apart from :data:`T0`."""
    audit = AuditLog(engine, clock=StepClock())
    audit.create_schema()
    return audit
