"""A document replacement approved over HTTP is published by the server itself (which holds the embedded store's
writer lock), exactly once; the requester sees it in their approvals and cannot undo it as a plant action."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from guardrails.publishing import SYSTEM_PUBLISHER
from knowledge.documents import parse_document
from knowledge.provenance import published_documents
from knowledge.service import KNOWLEDGE_DIR, WriterLock
from server.api.deps import Services
from tests.guardrails.test_publications import OFFICIAL, Sink
from tests.guardrails.test_publishing_gate import doc
from tests.policy_helpers import policy_user
from tests.server.api.conftest import auth


def test_an_owner_approves_a_replacement_over_http_and_the_server_publishes_it(client: TestClient,
                                                                               home: Path) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services) and services.runtime.publications is not None
    publications, sink = services.runtime.publications, Sink()
    publications.publish_shipped([parse_document(OFFICIAL, "QP-004.md")], source="corpus",
                                 trace=publications.trace(SYSTEM_PUBLISHER, "t0"), audit=sink)
    report = publications.publish(policy_user("quinn.quality"), [doc()], source="QP-004.md", reason="new rule",
                                  trace=publications.trace("quinn.quality", "t1"), audit=sink)
    [pending] = report.pending
    request_id = pending.request_id
    mine = client.get("/v1/approvals", headers=auth("quinn.quality")).json()["approvals"]
    assert [(a["id"], a["action"], a["status"]) for a in mine] == [(request_id, "publish_document", "pending")]
    assert "QP-004 rev D" in mine[0]["summary"]

    with WriterLock(home / KNOWLEDGE_DIR, "serve"):  # as `jidoka serve` holds it
        done = client.post(f"/v1/approvals/{request_id}/approve", json={"comment": "checked"},
                           headers=auth("qiu.quality"))
    body = done.json()
    assert done.status_code == 200, body
    assert body["resume_error"] is None and body["resumed"]["status"] == "published"
    assert body["request"]["status"] == "executed"
    stamped = published_documents(publications.index.stored())["QP-004"]
    assert (stamped.revision, stamped.published_by, stamped.request_id, stamped.approved_by) == (
        "E", "quinn.quality", request_id, ("qiu.quality",))

    undo = client.post(f"/v1/approvals/{request_id}/undo", headers=auth("quinn.quality"))
    assert undo.status_code == 409 and "publish the earlier revision" in undo.json()["detail"]

