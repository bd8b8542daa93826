"""Audit payloads of publications, built in one place so every writer records one shape."""

from __future__ import annotations

from typing import Any

from knowledge.documents import Document
from knowledge.provenance import Publication, PublishedDocument

__all__ = ["published_payload", "removed_payload"]


def published_payload(document: Document, publication: Publication, *, rule_id: str, source: str,
                      replaced: PublishedDocument | None) -> dict[str, Any]:
    """``document_published``: which revision (and content hash) is now served, who published it, and through
    which approval request and rule."""
    return {"doc_id": document.doc_id, "title": document.title, "revision": document.revision,
            "content_hash": document.content_hash, "sites": list(document.sites), "domains": list(document.domains),
            "published_by": publication.published_by, "published_at": publication.published_at,
            "request_id": publication.request_id or None, "approved_by": list(publication.approved_by),
            "rule_id": rule_id, "source": source,
            "replaced": None if replaced is None else {"revision": replaced.revision,
                                                       "content_hash": replaced.content_hash,
                                                       "published_by": replaced.published_by}}


def removed_payload(document: PublishedDocument, *, removed_by: str, rule_id: str) -> dict[str, Any]:
    """``document_removed``: a document the shipped corpus no longer holds, taken out of the index."""
    return {"doc_id": document.doc_id, "revision": document.revision, "content_hash": document.content_hash,
            "published_by": document.published_by, "removed_by": removed_by, "rule_id": rule_id,
            "source": document.source}
