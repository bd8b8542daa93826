"""Publishing documents as a governed action: decided per document, audited, replacements approved first.

- :meth:`Publications.publish` — a user publishes documents: each is decided by the
  :class:`~guardrails.publishing.gate.PublicationGate` and audited (``gate_decision``, kind ``publish``); new
  documents are ingested at once, stamped with the publisher; a replacement becomes a pending approval request
  (action ``publish_document``, in the approval store, so ``jidoka approvals`` lists, shows and decides it) that
  holds the exact text to publish, bound by its content hash; refusals change nothing. A user's ingest never
  removes documents.
- :meth:`Publications.publish_shipped` — the system publisher brings the corpus shipped with jidoka in (``jidoka
  init``): its own documents are added, updated and, when the corpus drops them, removed; a document a person
  published is kept.
- :meth:`Publications.settle` — an approved request is published exactly once: its stored text must still hash to
  the approved content, the published document must still be the one it replaces, and the requester must still
  be allowed to publish it; then the text is ingested, stamped with the requester, the request and its approvers,
  and the request is marked executed.

The index is read, decided on and written under the store's writer lock (:func:`knowledge.ingest.writing`), so
no other process publishes in between.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from guardrails.approvals.events import requested_event
from guardrails.approvals.governed_actions import durable
from guardrails.approvals.models import ApprovalRequest, DecisionKind, RequestStatus
from guardrails.approvals.store import ApprovalStore, args_hash
from guardrails.audit.log import AuditKind
from guardrails.audit.trace import AuditSink, Trace
from guardrails.errors import InvalidTransition, PublicationError, UnknownUser
from guardrails.gate import Effect
from guardrails.identity import User
from guardrails.policy.loader import Policy
from guardrails.publishing.events import published_payload, removed_payload
from guardrails.publishing.gate import PUBLISH_ACTION, SYSTEM_PUBLISHER, PublicationDecision, PublicationGate
from guardrails.publishing.report import DocumentOutcome, PublicationReport
from knowledge.documents import Document, parse_document, render_document
from knowledge.errors import CorpusError
from knowledge.ingest import IngestReport, ingest_documents, writing
from knowledge.provenance import Publication, PublishedDocument, published_documents
from knowledge.store import KnowledgeIndex

__all__ = ["Publications", "SettledPublication"]

Clock = Callable[[], datetime]
SettledStatus = Literal["pending", "published", "rejected", "expired", "not_published"]


@dataclass(frozen=True)
class SettledPublication:
    """What became of a publication request when it was settled."""

    request_id: str
    doc_id: str
    revision: str
    status: SettledStatus
    reason: str


class Publications:
    """Publishes documents into one knowledge index, governed by one immutable policy."""

    def __init__(self, *, policy: Policy, index: KnowledgeIndex, store: ApprovalStore,
                 gate: PublicationGate | None = None, clock: Clock | None = None) -> None:
        """``store`` holds the approval requests of replacements; ``clock`` is wall time (UTC)."""
        self.policy = policy
        self.index = index
        self.store = store
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.gate = gate or PublicationGate(policy, clock=self.clock)

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def trace(self, user_id: str, trace_id: str, thread_id: str | None = None) -> Trace:
        """A trace of this policy for ``user_id``."""
        return Trace(trace_id=trace_id, thread_id=thread_id, user_id=user_id, policy_hash=self.policy.hash)

    def _published(self) -> dict[str, PublishedDocument]:
        return published_documents(self.index.stored())

    def _count(self, ingest: IngestReport | None) -> int:
        return ingest.chunks_total if ingest is not None else self.index.count()

    # -- publishing as a user ------------------------------------------------------------------------

    def identify(self, user_id: str, trace: Trace, audit: AuditSink) -> User:
        """The policy's user ``user_id``; an unknown id is refused (``UnknownUser``) and the refusal audited."""
        try:
            return self.policy.user(user_id)
        except UnknownUser:
            audit.add(trace.event(AuditKind.ERROR, {"error": "unknown_user", "user_id": user_id,
                                                    "rule_id": "gate.unknown_user", "tool": PUBLISH_ACTION}))
            raise

    def publish(self, user: User, documents: Sequence[Document], *, source: str, reason: str, trace: Trace,
                audit: AuditSink) -> PublicationReport:
        """Decide, audit and carry out ``user`` publishing ``documents`` (read from ``source``)."""
        now = self._now()
        with writing(self.index.path):
            published = self._published()
            outcomes: list[DocumentOutcome] = []
            allowed: list[PublicationDecision] = []
            for document in documents:
                decision = self.gate.decide(user, document, published.get(document.doc_id), now=now)
                request_id = None
                if decision.effect is Effect.NEEDS_APPROVAL:
                    request_id = self._request(user, decision, source=source, reason=reason, trace=trace,
                                               audit=audit, now=now)
                payload = {**decision.to_json(), "source": source, "request_reason": reason}
                if request_id is not None:
                    payload["request_id"] = request_id
                audit.add(trace.event(AuditKind.GATE_DECISION, payload))
                outcomes.append(DocumentOutcome.of(decision, request_id))
                if decision.publishes:
                    allowed.append(decision)
            durable(audit)  # the decisions are on record before the index changes
            stamp = Publication(published_by=user.user_id, published_at=now.isoformat())
            ingest = self._ingest(allowed, stamp, source=source, trace=trace, audit=audit)
        return PublicationReport(user.user_id, tuple(outcomes), ingest, self._count(ingest))

    def _ingest(self, decisions: Sequence[PublicationDecision], stamp: Publication, *, source: str, trace: Trace,
                audit: AuditSink, remove: Sequence[PublishedDocument] = ()) -> IngestReport | None:
        if not decisions and not remove:
            return None
        report = ingest_documents(self.index, [d.document for d in decisions], source=source, publication=stamp,
                                  remove=[r.doc_id for r in remove])
        for decision in decisions:
            audit.add(trace.event(AuditKind.DOCUMENT_PUBLISHED, published_payload(
                decision.document, stamp, rule_id=decision.rule_id, source=source, replaced=decision.published)))
        for gone in remove:
            audit.add(trace.event(AuditKind.DOCUMENT_REMOVED, removed_payload(
                gone, removed_by=stamp.published_by, rule_id="knowledge.system_publisher")))
        durable(audit)
        return report

    def _request(self, user: User, decision: PublicationDecision, *, source: str, reason: str, trace: Trace,
                 audit: AuditSink, now: datetime) -> str:
        """The pending request for this replacement: the requester's open one for the same content, or a new
        one (audited ``approval_requested``)."""
        document, published, route = decision.document, decision.published, decision.route
        if route is None or published is None:
            raise PublicationError(None, f"the replacement of {document.doc_id} has no route to its owners")
        args = {"doc_id": document.doc_id, "title": document.title, "revision": document.revision,
                "content_hash": document.content_hash, "source": source, "reason": reason,
                "text": render_document(document)}
        for request in self.store.list_for(user, self.policy, now=now):
            if (request.action == PUBLISH_ACTION and request.requester == user.user_id
                    and request.status is RequestStatus.PENDING and request.args.get("doc_id") == document.doc_id
                    and request.args.get("content_hash") == document.content_hash
                    and request.precondition_snapshot.get("content_hash") == published.content_hash):
                return request.id
        sites = "*" if "*" in published.sites or not published.sites else ",".join(published.sites)
        summary = (f"Replace {document.doc_id} rev {published.revision} (published by "
                   f"{published.published_by or 'an earlier ingest'}) with rev {document.revision} "
                   f"\"{document.title}\" for sites {', '.join(document.sites)}, domains "
                   f"{', '.join(document.domains)}, roles {', '.join(document.roles)}")
        subject = {"site_id": sites, "to_site": None,
                   "facts": {"record_ids": [document.doc_id], "summary": summary}}
        request = self.store.create(thread_id=f"publish:{trace.trace_id}", trace_id=trace.trace_id,
                                    requester=user, action=PUBLISH_ACTION, args=args, subject=subject, route=route,
                                    precondition_snapshot=published.to_json(), now=now)
        audit.add(requested_event(request, self.policy.hash))
        durable(audit)
        return request.id

    # -- the shipped corpus --------------------------------------------------------------------------

    def publish_shipped(self, documents: Sequence[Document], *, source: str, trace: Trace,
                        audit: AuditSink) -> PublicationReport:
        """Publish the shipped corpus (read from the folder ``source``) as :data:`SYSTEM_PUBLISHER`."""
        now = self._now()
        with writing(self.index.path):
            published = self._published()
            present = {d.doc_id for d in documents}
            outcomes: list[DocumentOutcome] = []
            allowed: list[PublicationDecision] = []
            for document in documents:
                decision = self.gate.decide_shipped(document, published.get(document.doc_id))
                audit.add(trace.event(AuditKind.GATE_DECISION, {**decision.to_json(), "source": source}))
                outcomes.append(DocumentOutcome.of(decision, None))
                if decision.publishes:
                    allowed.append(decision)
            # Documents of this corpus it no longer holds go, unless a person published them since.
            gone = [p for doc_id, p in sorted(published.items())
                    if doc_id not in present and p.source == source and p.published_by in ("", SYSTEM_PUBLISHER)]
            durable(audit)
            stamp = Publication(published_by=SYSTEM_PUBLISHER, published_at=now.isoformat())
            ingest = self._ingest(allowed, stamp, source=source, trace=trace, audit=audit, remove=gone)
        return PublicationReport(SYSTEM_PUBLISHER, tuple(outcomes), ingest, self._count(ingest))

    # -- approved replacements -----------------------------------------------------------------------

    def settle(self, request_id: str, *, audit: AuditSink) -> SettledPublication:
        """Act on the publication request's status; an approved one is published exactly once."""
        request = self.store.get(request_id, now=self._now())
        if request.action != PUBLISH_ACTION:
            raise PublicationError(request_id, f"{request_id} is a {request.action} request, not a publication")
        doc_id, revision = str(request.args.get("doc_id", "")), str(request.args.get("revision", ""))

        def settled(status: SettledStatus, reason: str) -> SettledPublication:
            return SettledPublication(request.id, doc_id, revision, status, reason)

        status = request.status
        if status is RequestStatus.PENDING:
            waiting = " AND ".join(request.groups[i].describe() for i in request.open_groups)
            return settled("pending", f"{request.id} is waiting for approval by {waiting}")
        if status is RequestStatus.REJECTED:
            return settled("rejected", f"{request.id} was rejected; {doc_id} was not replaced")
        if status is RequestStatus.EXPIRED:
            return settled("expired", f"{request.id} expired before it was approved; {doc_id} was not replaced")
        if status is not RequestStatus.APPROVED:
            result = dict(request.result or {})
            done = status is RequestStatus.EXECUTED
            return settled("published" if done else "not_published", str(result.get("message", "")))
        return self._execute(request, settled, audit)

    def _execute(self, request: ApprovalRequest, settled: Callable[[SettledStatus, str], SettledPublication],
                 audit: AuditSink) -> SettledPublication:
        trace = self.trace(request.requester, request.trace_id, request.thread_id)
        now = self._now()
        try:
            document = self._approved_document(request)
        except (PublicationError, CorpusError) as exc:
            return self._fail(request, f"not published: {exc}", trace, audit, settled)
        with writing(self.index.path):
            current = self._published().get(document.doc_id)
            if current is not None and current.request_id == request.id and \
                    current.content_hash == document.content_hash:  # published before a crash: record it
                return self._mark(request, document, current, settled)
            expected = request.precondition_snapshot.get("content_hash")
            if current is None or current.content_hash != expected:
                now_is = "no longer published" if current is None else (
                    f"now rev {current.revision} published by {current.published_by or 'an earlier ingest'}")
                return self._fail(request, f"not published: {document.doc_id} changed since {request.id} was "
                                           f"requested ({now_is})", trace, audit, settled)
            requester = self.policy.users.get(request.requester)
            allowed, _, why = (False, "", "not a policy user any more") if requester is None else \
                self.gate.may_publish(requester, document)
            if not allowed:
                return self._fail(request, f"not published: {request.requester} may no longer publish it ({why})",
                                  trace, audit, settled)
            approvers = tuple(d.approver for d in request.decisions if d.decision is DecisionKind.APPROVE)
            stamp = Publication(published_by=request.requester, published_at=now.isoformat(), request_id=request.id,
                                approved_by=approvers)
            ingest_documents(self.index, [document], source=str(request.args.get("source", "")), publication=stamp)
            audit.add(trace.event(AuditKind.DOCUMENT_PUBLISHED, published_payload(
                document, stamp, rule_id=request.rule_id, source=str(request.args.get("source", "")),
                replaced=current)))
            durable(audit)
            return self._mark(request, document, current, settled)

    def _approved_document(self, request: ApprovalRequest) -> Document:
        """The document the request approved: its stored arguments unchanged, its text hashing to the content."""
        args = dict(request.args)
        if args_hash(args) != request.args_hash:
            raise PublicationError(request.id, f"the stored arguments of {request.id} differ from what was approved")
        document = parse_document(str(args.get("text", "")), str(args.get("source", "")) or request.id)
        if document.doc_id != args.get("doc_id") or document.content_hash != args.get("content_hash"):
            raise PublicationError(request.id, f"the text of {request.id} is not the approved content")
        return document

    def _mark(self, request: ApprovalRequest, document: Document, replaced: PublishedDocument | None,
              settled: Callable[[SettledStatus, str], SettledPublication]) -> SettledPublication:
        message = f"{document.doc_id} rev {document.revision} published by {request.requester} ({request.id})"
        result: dict[str, Any] = {"status": "executed", "action": PUBLISH_ACTION, "request_id": request.id,
                                  "message": message, "doc_id": document.doc_id, "revision": document.revision,
                                  "content_hash": document.content_hash,
                                  "replaced": None if replaced is None else replaced.revision}
        try:
            self.store.mark_executed(request.id, result, now=self._now())
        except InvalidTransition:  # another run marked it first: it was published once
            done = self.store.get(request.id, now=self._now())
            return settled("published", str((done.result or {}).get("message", message)))
        return settled("published", message)

    def _fail(self, request: ApprovalRequest, reason: str, trace: Trace, audit: AuditSink,
              settled: Callable[[SettledStatus, str], SettledPublication]) -> SettledPublication:
        body: Mapping[str, Any] = {"status": "not_executed", "action": PUBLISH_ACTION, "request_id": request.id,
                                   "reason": reason, "message": reason}
        try:
            self.store.mark_failed(request.id, body, now=self._now())
        except InvalidTransition:
            return self.settle(request.id, audit=audit)
        audit.add(trace.event(AuditKind.ERROR, {"error": "approved_publication_not_executed", **body}))
        return settled("not_published", reason)
