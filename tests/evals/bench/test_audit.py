"""The audit-throughput benchmark helper writes a real, valid chain."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from evals.bench.audit import measure_append_throughput, measure_concurrent_appends, measure_verify_throughput
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



def test_measure_verify_throughput_walks_the_whole_chain(engine: Engine) -> None:
    measure_append_throughput(engine, events=30, batch=10)
    assert measure_verify_throughput(engine) > 0
    assert measure_verify_throughput(engine, clock=time.thread_time, workers=0) > 0
    assert measure_verify_throughput(engine, workers=1) > 0  # a worker process on a 30-event log


@pytest.mark.parametrize("group_commit", [True, False])
def test_measure_concurrent_appends_counts_events_and_commits(engine: Engine, group_commit: bool) -> None:
    result = measure_concurrent_appends(engine, appenders=4, turns=3, events_per_turn=5, group_commit=group_commit)
    assert result.events == 4 * 3 * 5 == AuditLog(engine).count()
    if group_commit:
        assert 1 <= result.commits <= 12
    else:
        assert result.commits == 12 and result.events_per_commit == 5
    assert result.events_per_s > 0 and result.commits_per_s > 0
    with pytest.raises(ValueError):
        measure_concurrent_appends(engine, appenders=0, turns=1, events_per_turn=1, group_commit=True)
