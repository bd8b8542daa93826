"""The Chroma query-floor figures: each filter kind is timed on what it claims to filter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evals.bench._chroma_floor import chroma_floor
from evals.bench.retrieval import unit_vectors


def _collection(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    client: Any = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection("floor-test", embedding_function=None,
                                          configuration={"hnsw": {"space": "cosine"}})
    ids = [f"c{i}" for i in range(60)]
    metas = [{"source": "demo" if i < 7 else "bench-synthetic", "site": "P100" if i % 2 else "P200"}
             for i in range(60)]
    collection.add(ids=ids, embeddings=unit_vectors(60, 8, seed=1), documents=ids, metadatas=metas)
    return collection


def test_each_filter_kind_is_timed_and_the_tiny_filter_rows_counted(tmp_path: Path) -> None:
    floor = chroma_floor(_collection(tmp_path / "kb"), [{"site": "P100"}, {"site": "P200"}],
                         unit_vectors(6, 8, seed=5))
    assert floor.tiny_filter_rows == 7
    assert floor.queries == 6
    for ms in (floor.unfiltered_ms, floor.tiny_filter_ms, floor.scope_filter_ms):
        assert 0 < ms < 10_000


def test_no_scope_filter_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one scope filter"):
        chroma_floor(_collection(tmp_path / "kb"), [], unit_vectors(2, 8, seed=5))
    with pytest.raises(ValueError, match="one query vector"):
        chroma_floor(_collection(tmp_path / "kb2"), [{"site": "P100"}], [])
