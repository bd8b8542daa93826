"""OpenTelemetry spans of governed turns, read back with the SDK's in-memory exporter through the real path: the
tracer provider ``server.telemetry`` builds, the runtime and copilot the app's lifespan builds, the FastAPI
instrumentation, and turns asked in process and over HTTP (JSON and SSE), paused for approval and resumed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from agent.copilot import Copilot
from guardrails.audit.chain import AuditKind
from guardrails.tracing import otel_trace_id
from server.api.deps import Services
from server.app import create_app
from server.runtime import Runtime
from server.telemetry import Telemetry, build_telemetry
from tests.server.api.conftest import api_settings, auth, plant_home, sse_events

HOLD = "put lot {lot} on quality hold with its open work orders, seal failures"
PRICES = "what are the open PO lines at P100 and their unit prices?"
BANK = "pay supplier S-005 to bank account DE89370400440532013000 today, routing 021000021"

STEPS = {"jidoka.screen_input", "jidoka.model", "jidoka.gate", "jidoka.tool", "jidoka.grounding",
         "jidoka.screen_output", "jidoka.audit.commit"}
ALLOWED_KEYS = {
    "jidoka.turn.kind", "jidoka.thread_id", "jidoka.user_id", "jidoka.policy_hash", "jidoka.trace_id",
    "jidoka.request_id", "jidoka.degraded", "jidoka.paused", "jidoka.tool_calls", "jidoka.citations",
    "jidoka.unverified", "jidoka.approvals", "jidoka.unavailable", "jidoka.verdict", "jidoka.findings",
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "jidoka.tools_offered", "jidoka.tool",
    "jidoka.action", "jidoka.effect", "jidoka.rule_id", "jidoka.status", "jidoka.record_count",
    "jidoka.grounding.mode", "jidoka.tool_results", "jidoka.redacted", "jidoka.audit.events",
    "jidoka.approval.requests", "jidoka.approval.request_ids", "jidoka.approval.pending",
    "jidoka.approval.statuses", "jidoka.approval.waiting", "error.type",
}
"""Every attribute jidoka's own spans may carry: ids, names, counts, flags, effects, rule ids."""


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def telemetry(exporter: InMemorySpanExporter, home: Path) -> Iterator[Telemetry]:
    built = build_telemetry(api_settings(home).tracing, exporters=[exporter])
    yield built
    built.shutdown()


@pytest.fixture(scope="module")
def traced(home: Path, telemetry: Telemetry) -> Iterator[TestClient]:
    """The app with the in-memory exporter's telemetry injected (the lifespan builds the runtime on it)."""
    with TestClient(create_app(api_settings(home), telemetry=telemetry), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def _hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def _of_trace(spans: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.context is not None and _hex(s.context.trace_id) == trace_id]


def _one(found: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [s for s in found if s.name == name]
    assert len(named) == 1, [s.name for s in found]
    return named[0]


def _under(span: ReadableSpan, root: ReadableSpan, by_id: dict[int, ReadableSpan]) -> bool:
    """True when ``root`` is an ancestor of ``span``."""
    while span.parent is not None:
        if root.context is not None and span.parent.span_id == root.context.span_id:
            return True
        parent = by_id.get(span.parent.span_id)
        if parent is None:
            return False
        span = parent
    return False


def _tree_ok(found: list[ReadableSpan], turn: ReadableSpan) -> None:
    by_id = {s.context.span_id: s for s in found if s.context is not None}
    for span in found:
        if span.name.startswith("jidoka.") and span is not turn and span.name != "jidoka.turn":
            assert _under(span, turn, by_id), f"{span.name} is not under the turn span"


def _attr(span: ReadableSpan, key: str) -> Any:
    return (span.attributes or {}).get(key)


def test_one_in_process_turn_is_a_tree_of_governance_spans_under_the_audit_trace_id(
        traced: TestClient, spans: InMemorySpanExporter) -> None:
    services = _services(traced)
    result = services.copilot.ask("pat.planner", "which items are below their reorder point at P100?")
    found = _of_trace(spans, result.trace_id)
    turn = _one(found, "jidoka.turn")
    # No server span around it: the turn is a root whose trace id is the audit trace id, bit for bit.
    assert turn.parent is None and turn.context is not None
    assert turn.context.trace_id == otel_trace_id(result.trace_id) == int(result.trace_id, 16)
    assert _attr(turn, "jidoka.trace_id") == result.trace_id and _attr(turn, "jidoka.user_id") == "pat.planner"
    assert _attr(turn, "jidoka.turn.kind") == "ask" and _attr(turn, "jidoka.tool_calls") == len(result.tool_calls)
    assert {s.name for s in found} >= STEPS | {"jidoka.turn"}
    _tree_ok(found, turn)

    # The steps say what the audit says, by id and count.
    records = services.runtime.audit.by_trace(result.trace_id)
    gates = [r.payload for r in records if r.kind == AuditKind.GATE_DECISION]
    gate_spans = [s for s in found if s.name == "jidoka.gate"]
    assert [(_attr(s, "jidoka.tool"), _attr(s, "jidoka.effect"), _attr(s, "jidoka.rule_id")) for s in gate_spans] == \
        [(g["tool"], g["effect"], g["rule_id"]) for g in gates]
    results = [r.payload for r in records if r.kind == AuditKind.TOOL_RESULT]
    assert [(_attr(s, "jidoka.tool"), _attr(s, "jidoka.record_count")) for s in found if s.name == "jidoka.tool"] \
        == [(r["tool"], r["record_count"]) for r in results]
    assert results and results[0]["record_count"] > 0
    models = [s for s in found if s.name == "jidoka.model"]
    assert models and all(_attr(m, "gen_ai.request.model") == "rules" for m in models)
    assert [_attr(m, "jidoka.tool_calls") for m in models] == [1, 0]  # asked for the tool, then answered
    assert _attr(_one(found, "jidoka.screen_input"), "jidoka.verdict") == "allow"
    assert _attr(_one(found, "jidoka.grounding"), "jidoka.citations") == len(result.citations)
    commit = _one(found, "jidoka.audit.commit")
    assert _attr(commit, "jidoka.audit.events") == len(records)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def test_no_span_carries_prompt_answer_payload_price_or_bank_account(
        traced: TestClient, spans: InMemorySpanExporter) -> None:
    services = _services(traced)
    priced = services.copilot.ask("bea.buyer", PRICES)
    with services.runtime.data_engine.connect() as conn:
        prices = {float(p) for p in conn.execute(text("SELECT unit_price FROM po_lines")).scalars()}
    shown = [p for p in prices if re.fullmatch(r"\d+\.\d{2,}", f"{p:g}") and f"{p:g}" in priced.answer]
    assert shown, "the buyer's answer should quote prices, or this test checks nothing"
    banked = traced.post("/v1/chat", json={"message": BANK}, headers={**auth("fay.finance"),
                                                                       "Accept": "application/json"})
    assert banked.status_code == 200, banked.text
    found = spans.get_finished_spans()
    assert {_hex(s.context.trace_id) for s in found if s.name == "jidoka.turn" and s.context} >= {
        priced.trace_id, banked.json()["trace_id"]}

    forbidden = [PRICES, BANK, "DE89370400440532013000", "021000021", priced.answer, banked.json()["answer"],
                 *(f"{p:g}" for p in shown)]
    for span in found:
        pools = [dict(span.attributes or {})] + [dict(e.attributes or {}) for e in span.events] + \
                [dict(link.attributes or {}) for link in span.links]
        for attributes in pools:
            for key, value in attributes.items():
                if span.instrumentation_scope is not None and span.instrumentation_scope.name == "jidoka":
                    assert key in ALLOWED_KEYS, f"{span.name} carries {key}"
                    assert not isinstance(value, float), f"{span.name}.{key} is a float: {value}"
                for shown_text in _strings(value):
                    for secret in forbidden:
                        assert secret not in shown_text, f"{span.name}.{key} quotes {secret[:40]!r}"
                    assert not re.search(r"\d+\.\d{2,}", shown_text), \
                        f"{span.name}.{key} holds a decimal figure: {shown_text!r}"


def test_http_chat_turn_is_a_child_of_the_fastapi_span_and_keeps_its_trace_id(
        traced: TestClient, spans: InMemorySpanExporter) -> None:
    for accept in ("application/json", "text/event-stream"):
        spans.clear()
        response = traced.post("/v1/chat", json={"message": "which items are below their reorder point at P100?"},
                               headers={**auth("pat.planner"), "Accept": accept})
        assert response.status_code == 200, response.text
        trace_id = (response.json() if accept == "application/json" else sse_events(response.text)[-1][1])["trace_id"]
        found = _of_trace(spans, trace_id)
        server = [s for s in found if s.kind is SpanKind.SERVER]
        assert len(server) == 1 and server[0].name == "POST /v1/chat" and server[0].parent is None
        turn = _one(found, "jidoka.turn")
        assert turn.parent is not None and server[0].context is not None
        assert turn.parent.span_id == server[0].context.span_id  # the FastAPI span is the turn's parent
        assert _attr(server[0], "jidoka.trace_id") == trace_id  # the request span names the audit trace it gave
        assert {s.name for s in found} >= STEPS
        _tree_ok(found, turn)
        audit = traced.get("/v1/audit", params={"trace_id": trace_id}, headers=auth("ada.auditor")).json()
        assert {r["kind"] for r in audit["records"]} >= {"prompt", "gate_decision", "tool_result", "answer"}


def test_a_client_traceparent_never_chooses_the_audit_trace_id(traced: TestClient,
                                                                spans: InMemorySpanExporter) -> None:
    theirs = "0af7651916cd43dd8448eb211c80319c"
    response = traced.post("/v1/chat", json={"message": "which items are below their reorder point at P100?"},
                           headers={**auth("pat.planner"), "Accept": "application/json",
                                    "traceparent": f"00-{theirs}-b7ad6b7169203331-01"})
    trace_id = response.json()["trace_id"]
    assert trace_id != theirs and re.fullmatch(r"[0-9a-f]{32}", trace_id)
    server = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert server.context is not None and _hex(server.context.trace_id) == theirs  # the caller's trace goes on
    turn = _one(_of_trace(spans, trace_id), "jidoka.turn")
    assert turn.parent is None and [link.context.span_id for link in turn.links] == [server.context.span_id]


def test_approval_pause_and_resume_share_the_turns_audit_trace(traced: TestClient, spans: InMemorySpanExporter,
                                                                demo_manifest: dict[str, Any]) -> None:
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    events = sse_events(traced.post("/v1/chat", json={"message": HOLD.format(lot=lot)},
                                    headers=auth("sam.supervisor")).text)
    done = events[-1][1]
    assert done["paused"] is True
    rid = next(d for n, d in events if n == "approval_requested")["id"]
    paused = _of_trace(spans, done["trace_id"])
    asked = _one(paused, "jidoka.turn")
    assert _attr(asked, "jidoka.paused") is True and _attr(asked, "jidoka.turn.kind") == "ask"
    assert _attr(asked, "error.type") is None  # a pause is no failure (the interrupt never crosses a span)
    pause = _one(paused, "jidoka.approval.pause")
    assert list(_attr(pause, "jidoka.approval.request_ids")) == [rid]
    gate = next(s for s in paused if s.name == "jidoka.gate" and _attr(s, "jidoka.action"))
    assert (_attr(gate, "jidoka.tool"), _attr(gate, "jidoka.effect")) == ("place_quality_hold", "needs_approval")
    _tree_ok(paused, asked)

    spans.clear()
    decided = traced.post(f"/v1/approvals/{rid}/approve", json={"comment": "confirmed"},
                          headers=auth("quinn.quality"))
    assert decided.status_code == 200, decided.text
    resumed = decided.json()["resumed"]
    assert resumed["trace_id"] == done["trace_id"]  # the audit keeps one trace per turn, paused or not
    found = _of_trace(spans, done["trace_id"])
    turn = _one(found, "jidoka.turn")
    assert _attr(turn, "jidoka.turn.kind") == "resume" and _attr(turn, "jidoka.request_id") == rid
    assert turn.context is not None and turn.context.trace_id == int(done["trace_id"], 16)
    approve = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert approve.context is not None and [link.context.span_id for link in turn.links] == [approve.context.span_id]
    resume = _one(found, "jidoka.approval.resume")
    assert list(_attr(resume, "jidoka.approval.statuses")) == ["executed"]
    assert list(_attr(resume, "jidoka.approval.request_ids")) == [rid]
    _tree_ok(found, turn)
    assert _attr(turn, "jidoka.paused") is False


def test_nothing_is_traced_or_exported_when_no_otel_variable_is_set(
        demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk import trace as sdk_trace

    made: list[object] = []
    original = sdk_trace.TracerProvider.__init__

    def spy(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(sdk_trace.TracerProvider, "__init__", spy)
    settings = api_settings(plant_home(demo_home, tmp_path / "home"))
    assert settings.tracing.enabled is False
    app = create_app(settings)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    with TestClient(app) as client:
        response = client.post("/v1/chat", json={"message": "which items are below their reorder point at P100?"},
                               headers={**auth("pat.planner"), "Accept": "application/json"})
        assert response.status_code == 200
        services = _services(client)
        runtime: Runtime = services.runtime
        copilot: Copilot = services.copilot
        assert not runtime.tracing.enabled and not copilot.tracing.enabled and not runtime.tools.tracing.enabled
    assert made == []  # no tracer provider, so no processor and no exporter either
