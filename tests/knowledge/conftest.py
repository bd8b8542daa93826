"""Knowledge-base fixtures: the demo corpus ingested once per test session (opt-in: only tests here use it).

Embedding the whole corpus takes seconds, so one process ingests it into a shared folder (under pytest's base
temp, guarded by a file lock for xdist workers) and every worker copies that index into its own home.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from guardrails.policy import Policy, load_policy
from knowledge.documents import Document, load_documents
from knowledge.embeddings import MiniLMEmbedder
from knowledge.ingest import demo_corpus_dir
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from server.settings import Settings


@dataclass(frozen=True)
class SharedIndex:
    """The ingested demo corpus: where it is and what the first ingest reported."""

    path: Path
    first_report: dict[str, Any] | None
    """The ``--json`` report of the ingest that built it (``None`` in workers that found it built)."""


def _ingest_with_the_cli(target: Path) -> dict[str, Any]:
    """``jidoka knowledge ingest --json`` into ``target`` (a home's knowledge folder), in a child process.

    The child runs OpenBLAS single-threaded: on a machine shared by test workers, BLAS threads spinning for a
    busy core cost more CPU than they save.
    """
    home = target.parent / f"{target.name}-home"
    env = {**os.environ, "JIDOKA_HOME": str(home), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", "from server.cli import main; main()", "knowledge", "ingest",
                           "--json"], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    shutil.move(str(home / "knowledge"), str(target))
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _shared_root(factory: pytest.TempPathFactory) -> Path:
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_index(tmp_path_factory: pytest.TempPathFactory) -> SharedIndex:
    root = _shared_root(tmp_path_factory)
    target = root / "knowledge-demo-index"
    with (root / "knowledge-demo-index.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (target / ".complete").exists():
                return SharedIndex(target, None)
            shutil.rmtree(target, ignore_errors=True)
            report = _ingest_with_the_cli(target)
            (target / ".complete").write_text("ok")
            return SharedIndex(target, report)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def knowledge_home(shared_index: SharedIndex, demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JIDOKA_HOME of this worker: a copy of the demo plant and of the ingested knowledge index."""
    home = tmp_path_factory.mktemp("knowledge-home")
    shutil.copy(demo_home / "plant.db", home / "plant.db")
    shutil.copytree(shared_index.path, home / "knowledge")
    return home


@pytest.fixture(scope="session")
def demo_index(knowledge_home: Path) -> KnowledgeIndex:
    """The demo corpus index of this worker (read it, don't ingest into it)."""
    return KnowledgeIndex(MiniLMEmbedder(), path=knowledge_home / "knowledge")


@pytest.fixture(scope="session")
def knowledge_settings(knowledge_home: Path) -> Settings:
    return Settings.from_env({"JIDOKA_HOME": str(knowledge_home)})


@pytest.fixture(scope="session")
def shipped_policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="session")
def corpus() -> dict[str, Document]:
    return {d.doc_id: d for d in load_documents(demo_corpus_dir())}


@pytest.fixture
def private_home(knowledge_home: Path, tmp_path: Path) -> Iterator[Path]:
    """A home of this test only (copied plant and index): for tests that write (actions, audit, ingest)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(knowledge_home / "plant.db", home / "plant.db")
    shutil.copytree(knowledge_home / "knowledge", home / "knowledge")
    yield home


def readable(document: Document, scope: DocumentScope) -> bool:
    """Whether ``scope`` may read ``document``, from its front matter."""
    return scope.allows(document.sites, document.roles, document.domains)
