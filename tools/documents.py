"""The document search tool: the plant's procedures, work instructions and policies, within the reader's scope.

The tool reads from a knowledge index injected in the :class:`~tools.spec.ToolContext` (see
:mod:`knowledge`). The reader's scope — the sites the gate granted, the roles and the data domains of the
user — becomes the index's metadata filter, so a document the reader may not see is never retrieved.

When the index fails, the refusal the caller and the model get says what is down in words that name no file or
URL of the server; the full message, path and all, goes to the audit (``detail``) and the log.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from knowledge.errors import EmbedderUnavailable, EmbeddingError, KnowledgeError, StoreInUse, StoreUnavailable
from knowledge.scope import DocumentScope
from tools.document_index import DocumentIndex
from tools.spec import ServiceUnavailable, ToolArgs, ToolContext, ToolResult, ToolSpec

__all__ = ["TOOLS", "DocumentHit", "DocumentIndex", "SearchDocumentsArgs", "SearchDocumentsResult",
           "search_documents"]

_log = logging.getLogger("jidoka.tools.documents")

_UNAVAILABLE = ((StoreInUse, "the knowledge index is held by another jidoka process"),
                (StoreUnavailable, "the knowledge index cannot be opened or reached"),
                (EmbedderUnavailable, "the embedding model is not available"),
                (EmbeddingError, "the embeddings endpoint failed"))
"""What a refusal says for each kind of failure of the index."""


def _public_reason(exc: KnowledgeError) -> str:
    return next((reason for kind, reason in _UNAVAILABLE if isinstance(exc, kind)), "the knowledge index failed")


class SearchDocumentsArgs(ToolArgs):
    query: str = Field(min_length=2, max_length=500,
                       description="What to look for, in the user's words, e.g. 'how do I release a lot from hold'.")
    limit: int = Field(5, ge=1, le=10, description="How many passages to return.")


class DocumentHit(BaseModel):
    """One passage of a document."""

    citation: str = Field(description="Cite it as [<citation>], e.g. [QP-004 §3].")
    doc_id: str
    chunk_id: str
    title: str
    section: str
    heading: str
    revision: str
    effective: str
    text: str
    score: float
    published_by: str = Field("", description="Who published this revision (a user id, or the system publisher "
                                               "of the shipped corpus); empty when not recorded.")
    published_at: str = ""
    publication_request: str = Field("", description="The approval request that published it, if one was needed.")

    @property
    def provenance(self) -> str:
        """``rev C, published by quinn.quality`` (the revision alone when the publisher was not recorded)."""
        return f"rev {self.revision}, published by {self.published_by}" if self.published_by \
            else f"rev {self.revision}"


class SearchDocumentsResult(ToolResult):
    query: str
    hits: list[DocumentHit]


def search_documents(ctx: ToolContext, args: SearchDocumentsArgs) -> SearchDocumentsResult:
    """Hybrid (semantic + keyword) search of the documents the caller may read."""
    if ctx.knowledge is None:
        raise ServiceUnavailable("search_documents", "the knowledge base is not configured in this process")
    scope = DocumentScope(sites=ctx.scope.sites, roles=ctx.roles, domains=ctx.domains)
    try:
        result = ctx.knowledge.search(args.query, scope, args.limit)
    except KnowledgeError as exc:
        _log.warning("search_documents is unavailable: %s", exc)
        raise ServiceUnavailable("search_documents", _public_reason(exc), str(exc)) from None
    hits = [DocumentHit(citation=h.citation, doc_id=h.doc_id, chunk_id=h.chunk_id, title=h.title, section=h.section,
                        heading=h.heading, revision=h.revision, effective=h.effective, text=h.text, score=h.score,
                        published_by=h.published_by, published_at=h.published_at,
                        publication_request=h.publication_request)
            for h in result.hits]
    return SearchDocumentsResult(as_of=ctx.as_of, query=args.query, hits=hits,
                                 record_ids=list(dict.fromkeys(h.citation for h in hits)))


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="search_documents",
        description=(
            "Search the plant's documents — SOPs (quality hold and containment, nonconformance, SCAR, lot "
            "release), work instructions per line, maintenance procedures per asset class, the procurement "
            "policy (expedite rules, approval limits), governance and site documents — for passages that answer "
            "a procedure or policy question. Finds exact ids too (QP-004, AS-018, SEAL-LEAK, P100-PK1). Returns "
            "passages with a citation such as 'QP-004 §3'; quote them as data and cite them in brackets."),
        domain="knowledge", args_model=SearchDocumentsArgs, result_model=SearchDocumentsResult,
        fn=search_documents,
    ),
)
