"""What a publication did, document by document: the typed result the CLI prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardrails.publishing.gate import Outcome, PublicationDecision
from knowledge.ingest import IngestReport

__all__ = ["DocumentOutcome", "PublicationReport"]


@dataclass(frozen=True)
class DocumentOutcome:
    """The decision on one document, and the approval request it opened (a replacement)."""

    doc_id: str
    revision: str
    content_hash: str
    outcome: Outcome
    effect: str
    rule_id: str
    reason: str
    request_id: str | None = None

    @classmethod
    def of(cls, decision: PublicationDecision, request_id: str | None) -> DocumentOutcome:
        """The outcome of ``decision`` (with the request a replacement opened)."""
        doc = decision.document
        return cls(doc.doc_id, doc.revision, doc.content_hash, decision.outcome, decision.effect.value,
                   decision.rule_id, decision.reason, request_id)

    @property
    def pending(self) -> bool:
        """True when it waits for an owner's approval."""
        return self.request_id is not None

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return {"doc_id": self.doc_id, "revision": self.revision, "content_hash": self.content_hash,
                "outcome": self.outcome, "effect": self.effect, "rule_id": self.rule_id, "reason": self.reason,
                "request_id": self.request_id}


@dataclass(frozen=True)
class PublicationReport:
    """Every document's outcome, and what the ingest of the allowed ones changed (``None``: nothing written)."""

    publisher: str
    outcomes: tuple[DocumentOutcome, ...]
    ingest: IngestReport | None
    chunks_total: int
    """Chunks in the index afterwards."""

    @property
    def published(self) -> tuple[str, ...]:
        """Documents written into the index now (new, or replaced by the system publisher)."""
        return tuple(o.doc_id for o in self.outcomes if o.effect == "allow" and o.outcome in ("new", "replacement"))

    @property
    def pending(self) -> tuple[DocumentOutcome, ...]:
        """Replacements waiting for an owner's approval."""
        return tuple(o for o in self.outcomes if o.pending)

    @property
    def refused(self) -> tuple[DocumentOutcome, ...]:
        """Documents the policy refused (nothing changed for them)."""
        return tuple(o for o in self.outcomes if o.outcome == "refused")

    @property
    def kept(self) -> tuple[DocumentOutcome, ...]:
        """Shipped documents not published because a person published that id (the system keeps it)."""
        return tuple(o for o in self.outcomes if o.outcome == "kept")

    @property
    def unchanged(self) -> tuple[str, ...]:
        """Documents published as they are."""
        return tuple(o.doc_id for o in self.outcomes if o.outcome == "unchanged")

    @property
    def removed(self) -> tuple[str, ...]:
        """Documents taken out (only the system publisher removes its own vanished documents)."""
        return self.ingest.removed if self.ingest is not None else ()

    def summary(self) -> str:
        """One line for the CLI."""
        ingest = self.ingest
        added = len(ingest.added) if ingest else 0
        updated = len(ingest.updated) if ingest else 0
        line = (f"{added} added, {updated} updated, {len(self.unchanged)} unchanged, {len(self.removed)} removed, "
                f"{len(self.pending)} pending approval, {len(self.refused)} refused")
        if self.kept:
            line += f", {len(self.kept)} kept (published by a person)"
        embedded, seconds = (ingest.chunks_embedded, ingest.seconds) if ingest else (0, 0.0)
        return f"{line}; {embedded} chunks embedded, {self.chunks_total} in the index ({seconds:.1f} s)"

    def to_json(self) -> dict[str, Any]:
        """The counts the CLI's ``--json`` prints (the ingest's lists, plus the pending and refused documents)."""
        ingest = self.ingest
        return {"publisher": self.publisher,
                "added": list(ingest.added) if ingest else [], "updated": list(ingest.updated) if ingest else [],
                "unchanged": list(self.unchanged), "removed": list(self.removed),
                "pending": [o.to_json() for o in self.pending], "refused": [o.to_json() for o in self.refused],
                "kept": [o.to_json() for o in self.kept],
                "chunks_embedded": ingest.chunks_embedded if ingest else 0,
                "chunks_total": self.chunks_total,
                "seconds": round(ingest.seconds, 2) if ingest else 0.0}
