"""The audit-throughput benchmark helper writes a real, valid chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from evals.bench.audit import measure_append_throughput
from guardrails.audit.log import AuditLog
from tools.plant.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    yield eng
    eng.dispose()


# -- benchmark helper --------------------------------------------------------------------------


def test_measure_append_throughput_writes_a_valid_chain(engine: Engine) -> None:
    rate = measure_append_throughput(engine, events=50, batch=20)
    assert rate > 0
    audit = AuditLog(engine)
    assert audit.count() == 50
    assert audit.verify().ok
    with pytest.raises(ValueError):
        measure_append_throughput(engine, events=0, batch=10)
