"""The monitor's scheduled mode in ``jidoka serve``: runs every interval, one runner at a time across processes (the
database lock), a bad run does not stop the loop, and the setting turns it off."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from guardrails.audit.log import AuditKind
from guardrails.monitoring import RunSummary
from server.app import create_app
from server.runtime import Runtime, RuntimeOverrides, build_runtime
from server.scheduler import MonitorScheduler
from server.schema import upgrade_schema
from server.settings import Settings
from tests.policy_helpers import shipped_policy
from tests.server.api.conftest import api_settings, plant_home
from tools import make_engine


def _summary(status: str = "completed") -> RunSummary:
    return RunSummary(run_id="r", status=status, started_at=datetime.now(UTC))


def test_the_scheduler_runs_every_interval_and_survives_a_failing_run() -> None:
    calls: list[str] = []
    done = threading.Event()

    def run(holder: str) -> RunSummary:
        calls.append(holder)
        if len(calls) == 1:
            raise RuntimeError("the plant database is down")
        if len(calls) >= 3:
            done.set()
        return _summary()

    scheduler = MonitorScheduler(run, 0.01)
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.stop()
    assert len(set(calls)) == 1 and scheduler.runs >= 2  # one holder id per process; the failed run was survived


def test_a_zero_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        MonitorScheduler(lambda holder: _summary(), 0)


def test_serve_runs_the_monitor_on_its_interval(demo_home: Path, tmp_path: Path) -> None:
    home = plant_home(demo_home, tmp_path / "home")
    with TestClient(create_app(api_settings(home, JIDOKA_MONITOR_INTERVAL_S="1"))) as client:
        audit = client.app.state.services.runtime.audit  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(r.kind == AuditKind.MONITOR_RUN.value for r in audit.tail(50)):
            time.sleep(0.2)
        runs = [r for r in audit.tail(200) if r.kind == AuditKind.MONITOR_RUN.value]
    assert runs and runs[0].payload["status"] == "completed"


def test_the_setting_turns_scheduled_runs_off(demo_home: Path, tmp_path: Path) -> None:
    home = plant_home(demo_home, tmp_path / "home")
    settings = api_settings(home, JIDOKA_MONITOR_INTERVAL_S="0")
    assert settings.monitor_interval_s == 0
    assert api_settings(home).monitor_interval_s is None  # unset: the policy's interval


@pytest.fixture
def two_workers(tmp_path: Path, plant_url: str, state_url: str) -> Iterator[tuple[Runtime, Runtime]]:
    """Two runtimes (as two worker processes would build) on one plant and one state database."""
    plant, state = make_engine(plant_url), make_engine(state_url)
    upgrade_schema(plant, state, state_url)
    plant.dispose()
    state.dispose()
    settings = replace(Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")}), data_url=plant_url,
                       state_url=state_url)
    first = build_runtime(settings, RuntimeOverrides(policy=shipped_policy()))
    second = build_runtime(settings, RuntimeOverrides(policy=shipped_policy()))
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_two_workers_running_at_once_make_one_set_of_signals(two_workers: tuple[Runtime, Runtime]) -> None:
    barrier = threading.Barrier(2)
    results: list[RunSummary] = []

    def go(runtime: Runtime, holder: str) -> None:
        assert runtime.monitor is not None
        barrier.wait()
        results.append(runtime.monitor.run(holder=holder))

    threads = [threading.Thread(target=go, args=(rt, f"worker-{n}")) for n, rt in enumerate(two_workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(r.status for r in results) in (["completed", "skipped"], ["completed", "completed"])
    monitor = two_workers[0].monitor
    assert monitor is not None
    active = monitor.store.signals(active_only=True)
    assert len({s.subject_key for s in active}) == len(active)  # never two active signals on one subject
    opened = {sid for r in results for sid in r.opened}
    assert {s.signal_id for s in active} == opened
