"""Embedded Chroma has one writing process at a time: `serve` holds the store's writer lock for its lifetime, an
ingest while it writes; whoever comes second fails at once with one line naming the holder's pid."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from knowledge._lock import LOCK_FILE, WriterLock
from knowledge.errors import StoreInUse
from knowledge.ingest import ingest_path
from knowledge.service import KNOWLEDGE_DIR, hold_writer_lock
from knowledge.store import KnowledgeIndex
from server.cli import main
from tests.knowledge.test_ingest import DOC, P100_DOC, CountingEmbedder
from tests.server.cli.cli_helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]

_HOLD = """
import sys
from pathlib import Path
from knowledge._lock import WriterLock
lock = WriterLock(Path(sys.argv[1]), sys.argv[2]).acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "QP-100.md").write_text(DOC, encoding="utf-8")
    return folder


class Holder:
    """Another process holding the writer lock of ``directory`` as ``role``."""

    def __init__(self, directory: Path, role: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _HOLD, str(directory), role], cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout is None or self.process.stdout.readline().strip() != "held":
            self.stop()
            raise RuntimeError("the lock-holding child did not start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """End the holder the hard way (no release of its own): the kernel drops the lock."""
        self.process.kill()
        self.process.communicate(timeout=30)


@pytest.fixture
def holder() -> Iterator[Any]:
    made: list[Holder] = []

    def start(directory: Path, role: str) -> Holder:
        made.append(Holder(directory, role))
        return made[-1]

    yield start
    for h in made:
        if h.process.poll() is None:
            h.stop()


def test_the_second_taker_fails_and_names_the_holder(tmp_path: Path) -> None:
    store = tmp_path / "knowledge"
    with WriterLock(store, "serve") as first:
        assert first.held and (store / LOCK_FILE).read_text().split() == [str(os.getpid()), "serve"]
        with pytest.raises(StoreInUse) as caught:
            WriterLock(store, "ingest").acquire()
        message = str(caught.value)
        assert message == (f"the knowledge base under {store} is in use by a running jidoka server "
                           f"(pid {os.getpid()}): stop it to ingest, or run Chroma as a server (JIDOKA_CHROMA_URL) "
                           "so ingest and serve share it")
        assert caught.value.pid == os.getpid() and caught.value.holder == "serve"
        with pytest.raises(StoreInUse, match=r"by a running jidoka server .*: stop it to serve"):
            WriterLock(store, "serve").acquire()
    assert not first.held and (store / LOCK_FILE).read_text() == ""
    with WriterLock(store, "ingest") as again:  # released: the next one gets it
        assert again.held
        with pytest.raises(StoreInUse, match=r"by a running `jidoka knowledge ingest` .*: stop it to serve"):
            hold_writer_lock(tmp_path, "serve")


def test_a_chroma_server_needs_no_lock(tmp_path: Path) -> None:
    with WriterLock(tmp_path / KNOWLEDGE_DIR, "serve"):
        assert hold_writer_lock(tmp_path, "serve", chroma_url="http://127.0.0.1:8000") is None


def test_ingest_fails_while_another_process_serves_the_store_and_works_once_it_is_gone(
        tmp_path: Path, docs: Path, holder: Any) -> None:
    store = tmp_path / "index"
    index = KnowledgeIndex(CountingEmbedder(), path=store)
    server = holder(store, "serve")
    with pytest.raises(StoreInUse, match=rf"in use by a running jidoka server \(pid {server.pid}\)"):
        ingest_path(index, docs)
    server.stop()  # killed, not released: the lock dies with the process
    report = ingest_path(index, docs)
    assert report.added == ("QP-100",) and report.chunks_total == 3
    with WriterLock(store, "serve") as lock:  # the ingest let it go when it finished
        assert lock.held


def _cli(args: list[str], home: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(args, home, monkeypatch, capsys, unset=("JIDOKA_CHROMA_URL",))


def test_cli_ingest_is_one_clear_line_while_a_server_runs(tmp_path: Path, docs: Path, holder: Any,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    (docs / "QP-100.md").write_text(P100_DOC, encoding="utf-8")  # what quinn.quality may publish
    server = holder(home / KNOWLEDGE_DIR, "serve")
    code, _, err = _cli(["knowledge", "ingest", str(docs), "--as", "quinn.quality"], home, monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err
    assert err.strip() == (f"error: the knowledge base under {home / KNOWLEDGE_DIR} is in use by a running jidoka "
                           f"server (pid {server.pid}): stop it to ingest, or run Chroma as a server "
                           "(JIDOKA_CHROMA_URL) so ingest and serve share it")
    server.stop()
    code, out, _ = _cli(["knowledge", "ingest", str(docs), "--as", "quinn.quality", "--json"], home, monkeypatch,
                        capsys)
    assert code == 0 and '"QP-100"' in out


def test_serve_holds_the_lock_while_it_runs_and_a_second_serve_fails(
        private_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    store = private_home / KNOWLEDGE_DIR
    seen: list[str] = []

    def run(app: Any, **kwargs: Any) -> None:  # instead of serving: what would an ingest or a second serve get?
        try:
            WriterLock(store, "ingest").acquire()
        except StoreInUse as exc:
            seen.append(str(exc))

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setenv("JIDOKA_JWT_SECRET", "tests-only-hs256-secret-of-32-bytes-or-more")
    code, _, _ = _cli(["serve", "--port", "8765"], private_home, monkeypatch, capsys)
    assert code == 0 and len(seen) == 1 and f"(pid {os.getpid()}): stop it to ingest" in seen[0]
    with WriterLock(store, "ingest") as lock:  # released when the server stopped
        assert lock.held

    with WriterLock(store, "serve"):  # another server runs on this store
        code, out, err = _cli(["serve", "--port", "8765"], private_home, monkeypatch, capsys)
    assert code == 1 and "jidoka serving" not in out
    assert err.startswith(f"error: the knowledge base under {store} is in use by a running jidoka server (pid ")
    assert "stop it to serve" in err and len(seen) == 1  # uvicorn never started


def test_serve_on_a_chroma_server_takes_no_lock(private_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    monkeypatch.setenv("JIDOKA_JWT_SECRET", "tests-only-hs256-secret-of-32-bytes-or-more")
    with WriterLock(private_home / KNOWLEDGE_DIR, "ingest"):
        monkeypatch.setenv("JIDOKA_HOME", str(private_home))
        monkeypatch.setenv("JIDOKA_CHROMA_URL", "http://127.0.0.1:9")
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", "--port", "8765"])
    assert int(exit_info.value.code or 0) == 0
