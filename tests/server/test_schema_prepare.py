"""Preparing a fresh embedded state database from several processes at once (``serve --workers N`` on SQLite)."""

from __future__ import annotations

import fcntl
import multiprocessing
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from server.schema import SCHEMA_VERSION, prepare_state, read_version
from tools import make_engine


def _prepare(url: str, started: Any = None) -> None:
    engine = make_engine(url)
    if started is not None:
        started.set()
    try:
        prepare_state(engine, url)
    finally:
        engine.dispose()


def test_workers_preparing_one_fresh_sqlite_state_database_at_once_all_succeed(tmp_path: Path) -> None:
    # Before the file lock, two workers each saw no tables and one failed with "table ... already exists".
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'state-{round_}.db'}"
        procs = [ctx.Process(target=_prepare, args=(url,)) for _ in range(4)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(120)
        assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
        engine = make_engine(url)
        try:
            assert read_version(engine, "state") == SCHEMA_VERSION
            assert inspect(engine).has_table("approval_decisions")
        finally:
            engine.dispose()


def test_the_embedded_upgrade_waits_for_the_file_lock(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    url = f"sqlite:///{database}"
    ctx = multiprocessing.get_context("spawn")
    with open(f"{database}.upgrade-lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = ctx.Event()
        proc = ctx.Process(target=_prepare, args=(url, started))
        proc.start()
        assert started.wait(120)
        proc.join(2)  # the child is past its imports: without the lock it would be done well within this
        waiting = proc.is_alive()
        version_while_held = read_version(make_engine(url), "state") if database.exists() else None
        fcntl.flock(held, fcntl.LOCK_UN)
    proc.join(120)
    assert waiting, "prepare_state went ahead while another process held the upgrade lock"
    assert version_while_held is None
    assert proc.exitcode == 0
    engine = make_engine(url)
    try:
        assert read_version(engine, "state") == SCHEMA_VERSION
    finally:
        engine.dispose()
