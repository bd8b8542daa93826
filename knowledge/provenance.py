"""Who published a document: the publication stamp stored with every chunk, and the published documents as the
index holds them.

An ingest records its :class:`Publication` — the publisher (a policy user, or the system publisher of the shipped
corpus), when, and the approval request it carried out, if any — in the metadata of every chunk it writes. The
index then knows, per document id, which revision is published, its content hash, and who published it
(:func:`published_documents`): what a governing layer needs to decide whether an ingest adds a document or
replaces one, and what a search hit shows its reader. Deciding who *may* publish is not done here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Publication", "PublishedDocument", "published_documents"]


@dataclass(frozen=True)
class Publication:
    """The stamp an ingest writes into every chunk it adds or changes."""

    published_by: str
    """A policy user id, or the system publisher's name for the shipped corpus."""
    published_at: str
    """When (ISO 8601, UTC)."""
    request_id: str = ""
    """The approval request this publication carried out (``""`` when none was needed)."""
    approved_by: tuple[str, ...] = ()
    """Who approved that request."""

    def metadata(self) -> dict[str, str]:
        """The chunk metadata fields (Chroma metadata values are scalars: the approvers are joined)."""
        return {"published_by": self.published_by, "published_at": self.published_at,
                "publication_request": self.request_id, "approved_by": ",".join(self.approved_by)}


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, tuple)):
        return tuple(sorted(str(v) for v in value))
    return ()


@dataclass(frozen=True)
class PublishedDocument:
    """One document as the index holds it now (read from its chunks' metadata)."""

    doc_id: str
    title: str
    revision: str
    content_hash: str
    sites: tuple[str, ...]
    domains: tuple[str, ...]
    roles: tuple[str, ...]
    source: str
    """The file or folder it was ingested from."""
    published_by: str
    """``""`` for a document ingested before publications were stamped."""
    published_at: str
    request_id: str
    approved_by: tuple[str, ...]
    consistent: bool = True
    """False when its chunks disagree (an interrupted ingest): it then counts as changed."""

    @classmethod
    def of(cls, doc_id: str, metas: Sequence[Mapping[str, Any]]) -> PublishedDocument:
        """The document whose chunks carry ``metas`` (at least one)."""
        first = metas[0]
        hashes = {str(m.get("doc_hash", "")) for m in metas}
        publishers = {str(m.get("published_by", "")) for m in metas}
        approved = str(first.get("approved_by") or "")
        return cls(doc_id=doc_id, title=str(first.get("title", "")), revision=str(first.get("revision", "")),
                   content_hash=str(first.get("doc_hash", "")), sites=_names(first.get("sites")),
                   domains=_names(first.get("domains")), roles=_names(first.get("roles")),
                   source=str(first.get("source", "")), published_by=str(first.get("published_by", "")),
                   published_at=str(first.get("published_at", "")),
                   request_id=str(first.get("publication_request", "")),
                   approved_by=tuple(a for a in approved.split(",") if a),
                   consistent=len(hashes) == 1 and len(publishers) == 1)

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly view (for audit payloads and approval requests)."""
        return {"doc_id": self.doc_id, "title": self.title, "revision": self.revision,
                "content_hash": self.content_hash, "sites": list(self.sites), "domains": list(self.domains),
                "roles": list(self.roles), "source": self.source, "published_by": self.published_by,
                "published_at": self.published_at, "request_id": self.request_id,
                "approved_by": list(self.approved_by)}


def published_documents(stored: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, PublishedDocument]:
    """Every document of ``stored`` (``KnowledgeIndex.stored()``: chunk metadata by document id)."""
    return {doc_id: PublishedDocument.of(doc_id, metas) for doc_id, metas in stored.items() if metas}
