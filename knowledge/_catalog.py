"""Each chunk's scope (sites, roles, domains) in memory, next to the BM25 index, so a search selects the
lexical side's scoped chunks without asking Chroma for them.

The catalog is a snapshot of the collection, tagged with a :class:`ChangeToken` — the collection's chunk count and
the generation marker every ingest writes into the collection's metadata before and after it writes (a fresh
random value each time, so two ingests never write the same marker). A search reads the token first (two small
Chroma reads) and reloads the catalog when it differs, so a running worker sees what another process ingested,
and a chunk that was removed or re-scoped is never selected under its old scope. The dense query does not depend
on the catalog: it keeps the scope's ``where`` filter inside Chroma.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from knowledge._lexical import LexicalIndex, ScopedChunks
from knowledge.scope import DocumentScope

__all__ = ["GENERATION_KEY", "ChangeToken", "ChunkCatalog", "ScopeTriple", "bump_generation", "read_token",
           "scope_triple"]

GENERATION_KEY = "jidoka_generation"
"""Collection metadata key of the ingest generation marker."""
_LOAD_BATCH = 5000
_VIEWS = 64
"""Scoped views kept per catalog (one per distinct reader scope; a worker serves a handful of scopes)."""

ScopeTriple = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class ChangeToken:
    """What tells a stale catalog apart: the chunk count and the last ingest's generation marker."""

    count: int
    generation: str


def _values(meta: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = meta.get(key)
    if isinstance(raw, str):
        return (raw,)
    return tuple(str(v) for v in raw) if isinstance(raw, list | tuple) else ()


def scope_triple(meta: Mapping[str, Any]) -> ScopeTriple:
    """A chunk's (sites, roles, domains) from its Chroma metadata; a missing key reads as empty (never readable,
    as Chroma's ``$contains`` never matches a missing key)."""
    return _values(meta, "sites"), _values(meta, "roles"), _values(meta, "domains")


def read_token(client: Any, collection: Any, name: str) -> ChangeToken:
    """The current :class:`ChangeToken` of collection ``name`` (``client`` re-reads the collection's metadata,
    which a collection handle keeps from when it was opened)."""
    count = int(collection.count())
    fresh = client.get_collection(name, embedding_function=None) if client is not None else collection
    return ChangeToken(count, str((fresh.metadata or {}).get(GENERATION_KEY, "")))


def bump_generation(collection: Any) -> None:
    """Write a new generation marker into ``collection``'s metadata (an ingest calls it before and after writing:
    a reader that loaded its catalog while the ingest wrote sees the second marker and loads again)."""
    metadata = {k: v for k, v in (collection.metadata or {}).items() if not str(k).startswith("hnsw:")}
    collection.modify(metadata={**metadata, GENERATION_KEY: uuid.uuid4().hex})


@dataclass
class ChunkCatalog:
    """Chunk ids in Chroma's order, each chunk's scope, and the scoped views built from them."""

    token: ChangeToken
    ids: tuple[str, ...]
    triples: tuple[ScopeTriple, ...]
    """The distinct scopes, indexed by :attr:`kinds` (a corpus has a few dozen)."""
    kinds: tuple[int, ...]
    """Per chunk, its index into :attr:`triples`."""
    lexical: LexicalIndex
    """The BM25 index holding every chunk's terms (and perhaps those of chunks replaced since)."""
    _views: dict[DocumentScope, ScopedChunks] = field(default_factory=dict)

    @classmethod
    def load(cls, collection: Any, token: ChangeToken, lexical: LexicalIndex, slack: int) -> ChunkCatalog:
        """Every chunk's scope from ``collection``; texts ``lexical`` lacks are added to it — or to a new index
        when the entries of replaced chunks would exceed the collection's size by more than ``slack``."""
        id_list: list[str] = []
        metas: list[Mapping[str, Any]] = []
        while True:  # in pages: Chroma refuses one read of ~100k rows (too many SQL variables)
            got = collection.get(include=["metadatas"], limit=_LOAD_BATCH, offset=len(id_list))
            id_list += [str(i) for i in got["ids"]]
            metas += [m or {} for m in got["metadatas"] or []]
            if len(got["ids"]) < _LOAD_BATCH:
                break
        ids = tuple(id_list)
        seen: dict[ScopeTriple, int] = {}
        kinds = tuple(seen.setdefault(scope_triple(meta), len(seen)) for meta in metas)
        missing = [i for i in ids if i not in lexical]
        if len(lexical) + len(missing) > len(ids) + slack:  # entries of replaced chunks are never scored
            lexical = LexicalIndex()
            missing = list(ids)
        for start in range(0, len(missing), _LOAD_BATCH):
            batch = collection.get(ids=missing[start:start + _LOAD_BATCH], include=["documents"])
            lexical.add((str(cid), text or "") for cid, text in zip(batch["ids"], batch["documents"], strict=True))
        return cls(token, ids, tuple(seen), kinds, lexical)

    def scoped(self, scope: DocumentScope) -> ScopedChunks:
        """The chunks ``scope`` may read, in Chroma's order (as ``get(where=scope.where())`` lists them)."""
        view = self._views.get(scope)
        if view is None:
            allowed = {k for k, (sites, roles, domains) in enumerate(self.triples)
                       if scope.allows(sites, roles, domains)}
            view = self.lexical.scoped([cid for cid, kind in zip(self.ids, self.kinds, strict=True) if kind in allowed])
            if len(self._views) >= _VIEWS:
                self._views.clear()
            self._views[scope] = view
        return view

    def allows(self, scope: DocumentScope, metas: Sequence[Mapping[str, Any]]) -> bool:
        """Whether ``scope`` may read every chunk of these (freshly read) metadata."""
        return all(scope.allows(*scope_triple(meta or {})) for meta in metas)
