"""Publications carried out: stamped and audited, replacements published exactly once when approved, and only
the approved content; the shipped corpus by the system publisher; nothing removed by a person's ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from guardrails.approvals._tables import approval_requests
from guardrails.approvals.models import RequestStatus
from guardrails.approvals.store import ApprovalStore
from guardrails.audit.chain import AuditEvent, AuditKind
from guardrails.publishing import SYSTEM_PUBLISHER, PublicationReport, Publications
from guardrails.publishing.service import SettledPublication
from knowledge.documents import load_documents
from knowledge.provenance import published_documents
from knowledge.scope import DocumentScope
from knowledge.store import KnowledgeIndex
from tests.guardrails.test_publishing_gate import doc
from tests.knowledge.test_ingest import CountingEmbedder
from tests.policy_helpers import policy_user, shipped_policy
from tools.plant.db import make_engine

READER = DocumentScope(sites=None, roles=frozenset({"planner"}), domains=frozenset({"quality"}))
OFFICIAL = """---
id: QP-004
title: Quality hold and containment
sites: ["*"]
domains: [quality, production, inventory]
roles: ["*"]
revision: D
effective: 2026-01-15
---

## 1. Releasing a held lot
Only quality releases a held lot, after the disposition is recorded.
"""


class Sink:
    """An audit sink that keeps the events."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def add(self, event: AuditEvent) -> None:
        self.events.append(event)

    def kinds(self, kind: AuditKind) -> list[AuditEvent]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def service(tmp_path: Path) -> Publications:
    store = ApprovalStore(make_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    store.create_schema()
    return Publications(policy=shipped_policy(), index=KnowledgeIndex(CountingEmbedder(), path=tmp_path / "index"),
                        store=store)


def _corpus(tmp_path: Path, service: Publications, sink: Sink, **files: str) -> PublicationReport:
    folder = tmp_path / "corpus"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.md"):
        old.unlink()
    for name, text in files.items():
        (folder / f"{name}.md").write_text(text, encoding="utf-8")
    return service.publish_shipped(load_documents(folder), source=str(folder),
                                   trace=service.trace(SYSTEM_PUBLISHER, "t0"), audit=sink)


def _request(service: Publications, user: str, sink: Sink, trace: str = "t1", **kwargs: str) -> str:
    report = service.publish(policy_user(user), [doc(**kwargs)], source="upload.md", reason="new rule",
                             trace=service.trace(user, trace), audit=sink)
    [pending] = report.pending
    assert pending.request_id is not None
    return pending.request_id


def _qp004(service: Publications) -> list[tuple[str, str, str]]:
    hits = service.index.search("releases a held lot", READER, 10).hits
    return sorted({(h.revision, h.published_by, h.publication_request) for h in hits if h.doc_id == "QP-004"})


def test_a_new_document_is_published_at_once_and_stamped(service: Publications) -> None:
    sink = Sink()
    report = service.publish(policy_user("quinn.quality"), [doc("QP-010")], source="QP-010.md", reason="",
                             trace=service.trace("quinn.quality", "t1"), audit=sink)
    assert report.published == ("QP-010",) and report.ingest is not None and report.ingest.added == ("QP-010",)
    [decision] = sink.kinds(AuditKind.GATE_DECISION)
    [event] = sink.kinds(AuditKind.DOCUMENT_PUBLISHED)
    assert decision.payload["effect"] == "allow" and event.payload["published_by"] == "quinn.quality"
    assert event.payload["content_hash"] == doc("QP-010").content_hash and event.payload["request_id"] is None
    stamped = published_documents(service.index.stored())["QP-010"]
    assert (stamped.published_by, stamped.revision, stamped.request_id) == ("quinn.quality", "E", "")


def test_an_approved_replacement_is_published_once_with_who_approved_it(service: Publications,
                                                                        tmp_path: Path) -> None:
    sink = Sink()
    _corpus(tmp_path, service, sink, **{"QP-004": OFFICIAL})
    request_id = _request(service, "quinn.quality", sink)
    assert _qp004(service) == [("D", SYSTEM_PUBLISHER, "")]
    assert service.settle(request_id, audit=sink).status == "pending"
    service.store.decide(request_id, policy_user("qiu.quality"), "approve")
    settled = service.settle(request_id, audit=sink)
    assert settled == SettledPublication(request_id, "QP-004", "E", "published",
                                         f"QP-004 rev E published by quinn.quality ({request_id})")
    assert _qp004(service) == [("E", "quinn.quality", request_id)]
    assert published_documents(service.index.stored())["QP-004"].approved_by == ("qiu.quality",)
    assert service.settle(request_id, audit=sink).status == "published"  # again: nothing more happens
    assert len([e for e in sink.kinds(AuditKind.DOCUMENT_PUBLISHED) if e.payload["doc_id"] == "QP-004"
                and e.payload["revision"] == "E"]) == 1
    assert service.store.get(request_id).status is RequestStatus.EXECUTED


def test_a_replacement_of_a_document_that_changed_meanwhile_is_not_published(service: Publications,
                                                                             tmp_path: Path) -> None:
    sink = Sink()
    _corpus(tmp_path, service, sink, **{"QP-004": OFFICIAL})
    first = _request(service, "quinn.quality", sink)
    second = _request(service, "qiu.quality", sink, trace="t2", sites="[P200]", body="Line leads release them.")
    service.store.decide(first, policy_user("qiu.quality"), "approve")
    service.store.decide(second, policy_user("quinn.quality"), "approve")
    assert service.settle(first, audit=sink).status == "published"
    late = service.settle(second, audit=sink)
    assert late.status == "not_published" and "changed since" in late.reason and "published by quinn" in late.reason
    assert service.store.get(second).status is RequestStatus.FAILED
    assert _qp004(service) == [("E", "quinn.quality", first)]
    [error] = sink.kinds(AuditKind.ERROR)
    assert error.payload["error"] == "approved_publication_not_executed" and error.payload["request_id"] == second


def test_only_the_approved_content_is_published(service: Publications, tmp_path: Path) -> None:
    sink = Sink()
    _corpus(tmp_path, service, sink, **{"QP-004": OFFICIAL})
    request_id = _request(service, "quinn.quality", sink)
    service.store.decide(request_id, policy_user("qiu.quality"), "approve")
    args = dict(service.store.get(request_id).args)
    args["text"] = str(args["text"]).replace("until quality releases them", "until the line lead looks")
    with service.store.engine.begin() as conn:  # someone with database access swaps the text after approval
        conn.execute(update(approval_requests).where(approval_requests.c.id == request_id)
                     .values(args_json=json.dumps(args, sort_keys=True)))
    settled = service.settle(request_id, audit=sink)
    assert settled.status == "not_published" and "differ from what was approved" in settled.reason
    assert _qp004(service) == [("D", SYSTEM_PUBLISHER, "")]


def test_the_system_keeps_a_persons_publication_and_removes_only_its_own(service: Publications,
                                                                        tmp_path: Path) -> None:
    sink = Sink()
    other = OFFICIAL.replace("QP-004", "QP-005").replace("Releasing a held lot", "Scrap")
    _corpus(tmp_path, service, sink, **{"QP-004": OFFICIAL, "QP-005": other})
    request_id = _request(service, "quinn.quality", sink)
    service.store.decide(request_id, policy_user("qiu.quality"), "approve")
    service.settle(request_id, audit=sink)
    sink = Sink()
    _corpus(tmp_path, service, sink)  # the corpus drops both documents
    index = published_documents(service.index.stored())
    assert "QP-005" not in index and index["QP-004"].published_by == "quinn.quality"
    [removed] = sink.kinds(AuditKind.DOCUMENT_REMOVED)
    assert (removed.payload["doc_id"], removed.user_id) == ("QP-005", SYSTEM_PUBLISHER)
    report = _corpus(tmp_path, service, Sink(), **{"QP-004": OFFICIAL})
    assert [k.doc_id for k in report.kept] == ["QP-004"] and report.published == ()
    assert published_documents(service.index.stored())["QP-004"].revision == "E"


def test_a_persons_folder_ingest_never_removes_documents(service: Publications, tmp_path: Path) -> None:
    sink = Sink()
    quinn = policy_user("quinn.quality")
    service.publish(quinn, [doc("QP-010"), doc("QP-011")], source=str(tmp_path), reason="",
                    trace=service.trace("quinn.quality", "t1"), audit=sink)
    report = service.publish(quinn, [doc("QP-010")], source=str(tmp_path), reason="",
                             trace=service.trace("quinn.quality", "t2"), audit=sink)
    assert report.removed == () and report.unchanged == ("QP-010",)
    assert {"QP-010", "QP-011"} <= set(published_documents(service.index.stored()))
