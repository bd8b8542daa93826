"""Chroma as a server (``JIDOKA_CHROMA_URL``): a running process sees what another process ingests, without a
restart — new documents are found, replaced sections and removed documents are gone, on both retrieval sides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from knowledge import store
from knowledge.ingest import ingest_path
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from tests._chroma_service import ChromaIndexes
from tests.knowledge.test_ingest import DOC, CountingEmbedder

ROOT = Path(__file__).resolve().parents[2]
SCOPE = DocumentScope(None, frozenset({"planner"}), frozenset({"quality"}))
OTHER = (DOC.replace("QP-100", "QP-101").replace("Test hold procedure", "Torque tools")
         .replace("Tag the containers with a red label.", "Calibrate every torque wrench quarterly.")
         .replace("Suspect lots are held.", "Tools are checked.")
         .replace("A second person approves the release.", "The crib keeps the records."))

_INGEST = """
import sys
from pathlib import Path
from knowledge.ingest import ingest_path
from knowledge.store import KnowledgeIndex
from tests.knowledge.test_ingest import CountingEmbedder
index = KnowledgeIndex(CountingEmbedder(), url=sys.argv[1], namespace=sys.argv[2])
print(ingest_path(index, Path(sys.argv[3])).summary())
"""


def _ingest_in_another_process(index: KnowledgeIndex, folder: Path) -> str:
    url = index.url or ""
    done = subprocess.run([sys.executable, "-c", _INGEST, url, index.namespace, str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_running_index_sees_what_another_process_ingests(chroma_index: ChromaIndexes, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "QP-100.md").write_text(DOC, encoding="utf-8")
    serving = chroma_index(CountingEmbedder(), "shared")
    ingest_path(serving, folder)
    first = serving.search("red label", SCOPE, 5)
    assert first.documents == ("QP-100",) and first.hits[0].lexical_rank == 1  # opened, terms cached

    # Another process adds a document: the next search of the running index finds it on both sides.
    (folder / "QP-101.md").write_text(OTHER, encoding="utf-8")
    assert "1 added, 0 updated, 1 unchanged" in _ingest_in_another_process(serving, folder)
    hits = serving.search("torque wrench calibration", SCOPE, 1).hits
    assert [(h.doc_id, h.section, h.lexical_rank) for h in hits] == [("QP-101", "2", 1)]

    # A section rewritten elsewhere: its old text is no longer found, by words or otherwise; the new one is.
    old_ids = {h.chunk_id for h in serving.search("red label", SCOPE, 10).hits}
    writer = chroma_index(CountingEmbedder(), "shared")  # the same collection, as a second process sees it
    (folder / "QP-100.md").write_text(DOC.replace("red label", "yellow tag"), encoding="utf-8")
    report = ingest_path(writer, folder)
    assert (report.updated, report.chunks_embedded) == (("QP-100",), 1)
    after = serving.search("red label", SCOPE, 10).hits
    assert after and all(h.lexical_rank is None for h in after)  # no chunk holds the words any more
    assert not any("red label" in h.text for h in after)
    gone = old_ids - {h.chunk_id for h in after}
    assert len(gone) == 1 and next(iter(gone)).startswith("QP-100:2:")
    assert serving.search("yellow tag", SCOPE, 1).hits[0].lexical_rank == 1

    # A document removed elsewhere never comes back.
    (folder / "QP-101.md").unlink()
    assert ingest_path(writer, folder).removed == ("QP-101",)
    assert "QP-101" not in serving.search("torque wrench calibration", SCOPE, 10).documents
    assert serving.count() == 3


def test_the_bm25_cache_is_dropped_once_replaced_chunks_outgrow_the_collection(
        chroma_index: ChromaIndexes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_STALE_SLACK", 1)
    folder = tmp_path / "docs"
    folder.mkdir()
    index = chroma_index(CountingEmbedder())
    text = DOC
    for edit in range(1, 4):  # one section rewritten each time: without the drop, 3 + 3 entries by the end
        text = text.replace(f"label{edit - 1 or ''}", f"label{edit}")
        (folder / "QP-100.md").write_text(text, encoding="utf-8")
        ingest_path(index, folder)
        hits = index.search(f"label{edit}", SCOPE, 1).hits
        assert hits[0].lexical_rank == 1 and f"label{edit}" in hits[0].text
        assert index.count() == 3 and len(index._lexical) <= 3 + 1


def test_a_scope_narrowed_by_another_process_is_never_served_from_memory(chroma_index: ChromaIndexes,
                                                                          tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "QP-100.md").write_text(DOC, encoding="utf-8")
    serving = chroma_index(CountingEmbedder(), "shared")
    ingest_path(serving, folder)
    assert serving.search("red label", SCOPE, 5).hits[0].lexical_rank == 1  # the scope catalog is loaded

    # Another process re-ingests the document for the quality role only: the chunks keep their ids (same texts),
    # only their metadata changes — the running index must not serve them to the planner from its catalog.
    (folder / "QP-100.md").write_text(DOC.replace('roles: ["*"]', "roles: [quality]"), encoding="utf-8")
    assert "0 added, 1 updated" in _ingest_in_another_process(serving, folder)
    assert serving.search("red label", SCOPE, 10).hits == ()
    quality = DocumentScope(None, frozenset({"quality"}), frozenset({"quality"}))
    assert serving.search("red label", quality, 5).hits[0].lexical_rank == 1
