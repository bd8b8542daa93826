"""The signal store and the monitor lock on SQLite and Postgres: one active signal per subject, optimistic updates,
and a lease lock that one runner holds at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from guardrails.errors import SignalConflict, SignalNotFound
from guardrails.monitoring import Signal, SignalStatus, SignalStore
from tools import make_engine


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def store(state_url: str, clock: _Clock) -> Iterator[SignalStore]:
    engine = make_engine(state_url)
    built = SignalStore(engine, clock=clock)
    built.create_schema()
    try:
        yield built
    finally:
        engine.dispose()


def _signal(signal_id: str, subject: str, at: datetime) -> Signal:
    return Signal(signal_id=signal_id, detector="scrap_spike", subject_key=subject, site_id="P100", severity="high",
                  title="t", status=SignalStatus.OPEN, level=0, role="quality_engineer", record_ids=("LOT-1",),
                  figures={"scrap_rate": 0.07}, as_of=at.isoformat(), opened_at=at, updated_at=at,
                  rule_id="enterprise.yaml#monitoring.detectors.scrap_spike")


def test_one_active_signal_per_subject(store: SignalStore, clock: _Clock) -> None:
    first = _signal("SIG-000000000A", "scrap_spike:P100-PK1:LOT-1", clock.now)
    assert store.insert(first) == first
    assert store.insert(_signal("SIG-000000000B", first.subject_key, clock.now)) is None  # a racing runner
    assert store.active(first.subject_key) == first
    resolved = replace(first, status=SignalStatus.RESOLVED, closed_at=clock.now, updated_at=clock.now
                       + timedelta(seconds=1))
    store.update(resolved, expected=first)
    assert store.active(first.subject_key) is None
    again = _signal("SIG-000000000C", first.subject_key, clock.now)  # the same subject, found again later
    assert store.insert(again) == again
    assert [s.signal_id for s in store.signals(active_only=True)] == ["SIG-000000000C"]


def test_an_update_on_a_stale_read_is_refused(store: SignalStore, clock: _Clock) -> None:
    signal = _signal("SIG-000000000A", "k", clock.now)
    store.insert(signal)
    newer = replace(signal, status=SignalStatus.ACKNOWLEDGED, updated_at=clock.now + timedelta(seconds=1))
    store.update(newer, expected=signal)
    with pytest.raises(SignalConflict):
        store.update(replace(signal, status=SignalStatus.DISMISSED), expected=signal)
    assert store.get(signal.signal_id).status is SignalStatus.ACKNOWLEDGED
    with pytest.raises(SignalNotFound):
        store.get("SIG-FFFFFFFFFF")


def test_the_lock_is_held_by_one_runner_until_released_or_expired(store: SignalStore, clock: _Clock) -> None:
    lease = timedelta(minutes=10)
    assert store.acquire("a", lease=lease) is None
    assert store.acquire("b", lease=lease) == "a"
    assert store.acquire("a", lease=lease) is None  # its own lease is renewed
    store.release("b")  # not b's to release
    assert store.acquire("b", lease=lease) == "a"
    store.release("a")
    assert store.acquire("b", lease=lease) is None
    clock.now += lease + timedelta(seconds=1)  # b crashed: its lease runs out
    assert store.acquire("c", lease=lease) is None


def test_for_request_finds_the_signal(store: SignalStore, clock: _Clock) -> None:
    signal = replace(_signal("SIG-000000000A", "k", clock.now), requests=("APR-0123456789AB",))
    store.insert(signal)
    assert store.for_request("APR-0123456789AB") == signal
    assert store.for_request("APR-0123456789AC") is None
