"""The metrics of a chat turn count exactly the audit records that turn wrote — without reading the chain head first.

``run_turn(..., fresh_trace=True)`` (``POST /v1/chat``, the facade) skips the head read a resumed turn needs:
these tests hold it to the reference, the records of the trace written after the head as it stood before.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from guardrails.audit.log import AuditRecord
from server.api.deps import Services
from tests.server.api.conftest import auth


@pytest.fixture
def observed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[list[AuditRecord]]:
    """The records each turn handed to the metrics, in order."""
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    seen: list[list[AuditRecord]] = []
    original = services.metrics.observe_turn

    def spy(result: Any, records: Any, seconds: float, **kw: Any) -> None:
        seen.append(list(records))
        original(result, records, seconds, **kw)

    monkeypatch.setattr(services.metrics, "observe_turn", spy)
    return seen


@pytest.mark.parametrize("path, body", [
    ("/v1/chat", {"message": "which purchase orders are overdue?"}),
    ("/v1/chat/completions", {"model": "jidoka", "messages": [{"role": "user", "content": "How much stock of "
                                                                                           "CP-2039 do we have?"}]}),
])
def test_a_fresh_turn_counts_the_records_after_the_head_as_before(client: TestClient,
                                                                   observed: list[list[AuditRecord]], path: str,
                                                                   body: dict[str, Any]) -> None:
    audit = client.app.state.services.runtime.audit  # type: ignore[attr-defined]
    for _ in range(2):  # a second turn too: earlier traces are in the log
        before = audit.head().seq
        response = client.post(path, json=body, headers={**auth("pat.planner"), "Accept": "application/json"})
        assert response.status_code == 200
        counted = observed.pop()
        written = audit.tail(audit.head().seq - before)  # everything the request wrote (nothing else ran)
        reference = [r for r in audit.by_trace(written[0].trace_id) if r.seq > before]  # the old head-read way
        assert counted == reference == written  # the turn's own records, every one and only those
