"""Documents, chunks and idempotent ingestion."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from knowledge.documents import Document, chunk_document, load_documents, parse_document
from knowledge.errors import CorpusError
from knowledge.ingest import demo_corpus_dir, ingest_path
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from tests.knowledge.conftest import SharedIndex

DOC = """---
id: QP-100
title: Test hold procedure
sites: ["*"]
domains: [quality]
roles: ["*"]
revision: A
effective: 2026-01-01
---

# QP-100 Test hold procedure

## 1. Purpose
Suspect lots are held.

## 2. Placing the hold
Tag the containers with a red label.

## 3. Releasing
A second person approves the release.
"""


P100_DOC = DOC.replace('sites: ["*"]', "sites: [P100]")
"""QP-100 for P100 only: a P100 quality engineer (quinn.quality) may publish it."""


class CountingEmbedder:
    """A deterministic stand-in for the logic tests (vectors from a hash); counts what it embeds."""

    name = "counting"

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += texts
        return [[b / 255.0 for b in hashlib.sha256(t.encode()).digest()[:8]] for t in texts]


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_chunks_follow_headings_with_stable_ids() -> None:
    document = parse_document(DOC, "QP-100.md")
    chunks = chunk_document(document)
    assert [(c.section, c.heading) for c in chunks] == [("1", "Purpose"), ("2", "Placing the hold"),
                                                         ("3", "Releasing")]
    assert [c.citation for c in chunks] == ["QP-100 §1", "QP-100 §2", "QP-100 §3"]
    again = chunk_document(parse_document(DOC.replace("revision: A", "revision: B"), "QP-100.md"))
    assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks]  # text unchanged → same ids
    edited = chunk_document(parse_document(DOC.replace("red label", "red HOLD label"), "QP-100.md"))
    assert edited[1].chunk_id != chunks[1].chunk_id and edited[0].chunk_id == chunks[0].chunk_id
    assert all(c.chunk_id.startswith(f"QP-100:{c.section}:") for c in chunks)


@pytest.mark.parametrize(("text", "problem"), [
    ("no front matter", "missing YAML front matter"),
    ("---\nid: QP-1\n---\nbody", "lacks title"),
    (DOC.replace("id: QP-100", "id: qp 100"), "must look like QP-004"),
    (DOC.replace("effective: 2026-01-01", "effective: soon"), "ISO date"),
    (DOC.replace('roles: ["*"]', "roles: []"), "'roles' must be a non-empty list"),
    ("---\nid: [unclosed\n---\nbody", "not valid YAML"),
])
def test_bad_documents_are_typed_errors(text: str, problem: str) -> None:
    with pytest.raises(CorpusError, match=problem):
        parse_document(text, "bad.md")


def test_ingestion_is_idempotent_and_tracks_changes(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _write(folder, "QP-100.md", DOC)
    _write(folder, "QP-101.md", DOC.replace("QP-100", "QP-101").replace("Test hold", "Other"))
    embedder = CountingEmbedder()
    index = KnowledgeIndex(embedder, path=tmp_path / "index")

    first = ingest_path(index, folder)
    assert (first.added, first.chunks_embedded, first.chunks_total) == (("QP-100", "QP-101"), 6, 6)

    embedder.embedded.clear()
    second = ingest_path(index, folder)
    assert (second.unchanged, second.added, second.updated, second.chunks_embedded) == (("QP-100", "QP-101"), (),
                                                                                         (), 0)
    assert embedder.embedded == []

    # One section edited: only that chunk is embedded again, its old chunk is gone.
    _write(folder, "QP-100.md", DOC.replace("red label", "red HOLD label"))
    third = ingest_path(index, folder)
    assert (third.updated, third.unchanged, third.chunks_embedded, third.chunks_total) == (("QP-100",), ("QP-101",),
                                                                                           1, 6)
    assert len(embedder.embedded) == 1 and "red HOLD label" in embedder.embedded[0]

    # Front matter only (who may read it): no embedding, and the new roles apply to retrieval at once.
    _write(folder, "QP-100.md", DOC.replace("red label", "red HOLD label").replace('roles: ["*"]',
                                                                                   "roles: [finance]"))
    embedder.embedded.clear()
    fourth = ingest_path(index, folder)
    assert (fourth.updated, fourth.chunks_embedded) == (("QP-100",), 0)
    planner = DocumentScope(sites=frozenset({"P100"}), roles=frozenset({"planner"}),
                            domains=frozenset({"quality"}))
    assert {h.doc_id for h in index.search("hold procedure red label", planner, 10).hits} == {"QP-101"}

    # A vanished file is removed with its chunks.
    (folder / "QP-101.md").unlink()
    fifth = ingest_path(index, folder)
    assert (fifth.removed, fifth.chunks_total) == (("QP-101",), 3)
    assert set(index.stored()) == {"QP-100"}


def test_a_bad_document_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    _write(folder, "QP-100.md", DOC)
    index = KnowledgeIndex(CountingEmbedder(), path=tmp_path / "index")
    ingest_path(index, folder)
    _write(folder, "QP-102.md", "---\ntitle: no id\n---\ntext")
    _write(folder, "QP-100.md", DOC.replace("red label", "blue label"))
    with pytest.raises(CorpusError, match=r"QP-102\.md"):
        ingest_path(index, folder)
    assert "red label" in " ".join(h.text for h in index.search(
        "label", DocumentScope(None, frozenset({"planner"}), frozenset({"quality"})), 5).hits)
    with pytest.raises(CorpusError, match="no such file"):
        ingest_path(index, tmp_path / "nowhere")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "docs", "a.md", DOC)
    _write(tmp_path / "docs", "b.md", DOC)
    with pytest.raises(CorpusError, match="also used by"):
        load_documents(tmp_path / "docs")


def test_demo_corpus_is_complete(corpus: dict[str, Document]) -> None:
    assert len(corpus) >= 40
    ids = set(corpus)
    assert {"QP-001", "QP-002", "QP-003", "QP-004", "PP-001", "GOV-001"} <= ids  # NCR, SCAR, release, hold, …
    for line in ("P100-PK1", "P100-PK2", "P100-AS1", "P100-AS2", "P100-MC1", "P200-MC1", "P200-MC2", "P200-AS1",
                 "P200-PK1"):
        assert corpus[f"WI-{line}"].sites == (line[:4],)
    assert sum(1 for d in corpus.values() if d.doc_id.startswith("MP-")) >= 8
    assert any(d.language == "es" for d in corpus.values())
    restricted = [d for d in corpus.values() if "*" not in d.roles]
    assert {d.doc_id[:3] for d in restricted} == {"FIN", "CON"}
    assert {d.sites for d in corpus.values()} >= {("*",), ("P100",), ("P200",)}


def test_manifest_lists_the_planted_injections(corpus: dict[str, Document]) -> None:
    manifest = yaml.safe_load((demo_corpus_dir() / "manifest.yaml").read_text(encoding="utf-8"))
    injections = manifest["injections"]
    assert 3 <= len(injections) <= 5
    for item in injections:
        chunks = {c.section: c.text for c in chunk_document(corpus[item["doc_id"]])}
        assert item["text"] in chunks[item["section"]], item["doc_id"]
    for group in manifest["restricted"].values():
        assert all("*" not in corpus[doc_id].roles for doc_id in group)


def test_demo_corpus_ingests_once_and_then_embeds_nothing(shared_index: SharedIndex, tmp_path: Path,
                                                          corpus: dict[str, Document]) -> None:
    if shared_index.first_report is not None:  # the worker that built it saw every document added
        assert len(shared_index.first_report["added"]) == len(corpus)
        assert shared_index.first_report["chunks_embedded"] == shared_index.first_report["chunks_total"]
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(shared_index.path, copy)
    embedder = CountingEmbedder()
    embedder.name = "minilm"  # the same vector space (collection) as the shared index
    report = ingest_path(KnowledgeIndex(embedder, path=copy), demo_corpus_dir())
    assert (len(report.unchanged), report.chunks_embedded, report.added, report.removed) == (len(corpus), 0, (), ())
    assert embedder.embedded == []
