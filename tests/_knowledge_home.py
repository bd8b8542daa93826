"""Opt-in fixtures: a demo JIDOKA_HOME with the demo corpus ingested into its knowledge index.

Embedding the whole corpus takes seconds, so it is done once per test run, not once per xdist worker: the
first worker to get here ingests it (``jidoka knowledge ingest --json`` in a child process) into a folder
under the run's shared base temp, guarded by a file lock; the others wait on the lock and reuse the folder.
Each worker then copies that index beside its own demo plant (``knowledge_home``, read-only), and tests that
write copy that home again (``private_knowledge_home``).

Nothing here is built unless a test asks for it. A failed ingest fails the tests that need the index: the
knowledge-document channel must never be silently skipped in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from knowledge.service import KNOWLEDGE_DIR

__all__ = ["SharedIndex", "copy_home"]

_DONE = ".complete"
"""Written last into the shared index folder: a folder without it is a half-built index (rebuilt)."""


@dataclass(frozen=True)
class SharedIndex:
    """The ingested demo corpus of this test run: where it is and what the ingest that built it reported."""

    path: Path
    first_report: dict[str, Any] | None
    """The ``--json`` report of the ingest that built it (``None`` in workers that found it built)."""


def _ingest_with_the_cli(target: Path) -> dict[str, Any]:
    """``jidoka knowledge ingest --json`` into a scratch home, whose knowledge folder then becomes ``target``.

    The child runs OpenBLAS single-threaded: on a machine shared by test workers, BLAS threads spinning for a
    busy core cost more CPU than they save.
    """
    home = target.parent / f"{target.name}-home"
    shutil.rmtree(home, ignore_errors=True)
    # The shipped defaults, whatever the developer's shell says (no remote Chroma, no OpenAI embeddings).
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIDOKA_")}
    env.update(JIDOKA_HOME=str(home), OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", "from server.cli import main; main()", "knowledge", "ingest",
                           "--json"], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"ingesting the demo corpus failed:\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["added"] and report["chunks_total"] > 0, f"the demo corpus ingested nothing: {report}"
    shutil.move(str(home / KNOWLEDGE_DIR), str(target))
    shutil.rmtree(home, ignore_errors=True)
    return report


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this run shares: the parent of a worker's base temp under xdist (pytest
    clears it at the start of each run), the base temp itself without xdist."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def copy_home(source: Path, target: Path) -> Path:
    """Copy a home (plant, manifest, knowledge index) into ``target``, which must not exist yet."""
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="session")
def shared_index(tmp_path_factory: pytest.TempPathFactory) -> SharedIndex:
    """The demo corpus ingested once per test run (shared by xdist workers; never write into it)."""
    root = _shared_root(tmp_path_factory)
    target = root / "knowledge-demo-index"
    with FileLock(str(root / "knowledge-demo-index.lock")):
        if (target / _DONE).is_file():
            return SharedIndex(target, None)
        shutil.rmtree(target, ignore_errors=True)
        report = _ingest_with_the_cli(target)
        (target / _DONE).write_text("ok", encoding="utf-8")
        return SharedIndex(target, report)


@pytest.fixture(scope="session")
def knowledge_home(shared_index: SharedIndex, demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This worker's initialized demo home with the corpus ingested: the demo plant and its manifest (from
    ``demo_home``) and a copy of the shared index, as ``jidoka init`` leaves a home. Treat it as read-only."""
    home = tmp_path_factory.mktemp("knowledge-home")
    for item in demo_home.iterdir():
        if item.is_file():
            shutil.copy2(item, home / item.name)
    shutil.copytree(shared_index.path, home / KNOWLEDGE_DIR, ignore=shutil.ignore_patterns(_DONE))
    return home


@pytest.fixture
def private_knowledge_home(knowledge_home: Path, tmp_path: Path) -> Path:
    """A copy of ``knowledge_home`` for this test only: for tests that write (actions, audit, ingest)."""
    return copy_home(knowledge_home, tmp_path / "home")
