"""The tracer provider from the standard ``OTEL_*`` variables: what turns tracing on and off, an OTLP/HTTP export
to a collector on loopback (decoded), exception messages scrubbed, and trace ids derived from audit ids."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guardrails.tracing import TurnTracing, otel_trace_id
from server.errors import SettingsError
from server.secrets import SecretMasker
from server.settings import Settings
from server.telemetry import build_telemetry
from server.tracing_settings import TracingSettings, tracing_settings


def test_nothing_is_on_unless_an_exporter_or_endpoint_is_named() -> None:
    assert tracing_settings({}).enabled is False
    assert Settings.from_env({"JIDOKA_HOME": "/tmp/x"}).tracing == TracingSettings()
    assert build_telemetry(tracing_settings({})).provider is None
    assert tracing_settings({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) \
        .enabled is False
    assert tracing_settings({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}).enabled is False
    on = tracing_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_SERVICE_NAME": "plant-7",
                           "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr3t%3D,x=1"})
    assert on.exporters == ("otlp",) and on.endpoint == "http://collector:4318/v1/traces"
    assert on.service_name == "plant-7" and dict(on.headers) == {"api-key": "s3cr3t=", "x": "1"}
    assert "s3cr3t" not in repr(on) and "s3cr3t" not in repr(Settings.from_env(
        {"JIDOKA_HOME": "/tmp/x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
         "OTEL_EXPORTER_OTLP_HEADERS": "k=s3cr3t"}))
    grpc = tracing_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert grpc.endpoint == "http://c:4317" and grpc.protocol == "grpc"
    exact = tracing_settings({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c/custom", "OTEL_TRACES_EXPORTER": "otlp"})
    assert exact.endpoint == "https://c/custom"
    assert tracing_settings({"OTEL_TRACES_EXPORTER": "console"}).exporters == ("console",)


@pytest.mark.parametrize("env", [{"OTEL_TRACES_EXPORTER": "zipkin"}, {"OTEL_TRACES_EXPORTER": "otlp",
                                                                      "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
                                 {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
                                 {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "sometimes"},
                                 {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER_ARG": "2"},
                                 {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "no-equals"}])
def test_unusable_values_fail_at_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"JIDOKA_HOME": "/tmp/x", **env})


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:  # quiet
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_spans_reach_an_otlp_http_collector_named_by_the_standard_variables(
        collector: tuple[str, list[tuple[str, bytes]]]) -> None:
    url, received = collector
    settings = Settings.from_env({"JIDOKA_HOME": "/tmp/x", "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                                  "OTEL_SERVICE_NAME": "jidoka-test"})
    telemetry = build_telemetry(settings.tracing)
    audit_id = "4e6869d58dd54fbfb03c204b9c328fa1"
    with telemetry.tracing.turn("jidoka.turn", audit_id, {"jidoka.user_id": "pat.planner"}), \
            telemetry.tracing.step("jidoka.gate", {"jidoka.rule_id": "r1"}):
        pass
    telemetry.shutdown()  # flushes the batch
    assert [path for path, _ in received] == ["/v1/traces"]
    request = ExportTraceServiceRequest.FromString(received[0][1])
    resource = request.resource_spans[0]
    assert {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"] == "jidoka-test"
    spans = [s for scope in resource.scope_spans for s in scope.spans]
    assert sorted(s.name for s in spans) == ["jidoka.gate", "jidoka.turn"]
    assert {s.trace_id.hex() for s in spans} == {audit_id}


def test_exception_messages_never_leave_the_process() -> None:
    exporter = InMemorySpanExporter()
    telemetry = build_telemetry(TracingSettings(), exporters=[exporter])
    tracer = telemetry.provider.get_tracer("someone-else") if telemetry.provider else None
    assert tracer is not None
    with pytest.raises(ValueError), tracer.start_as_current_span("instrumented"):
        raise ValueError("unit price 12.34 for IBAN DE89370400440532013000")
    with pytest.raises(KeyError), telemetry.tracing.turn("jidoka.turn", "ab" * 16, {}):
        raise KeyError("DE89370400440532013000")
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["instrumented", "jidoka.turn"]
    for span in spans:
        shown = repr(span.to_json())
        assert "DE89" not in shown and "12.34" not in shown
    assert [e.attributes["exception.type"] for e in spans[0].events if e.attributes] == ["ValueError"]
    assert spans[1].attributes is not None and spans[1].attributes["error.type"] == "KeyError"
    telemetry.shutdown()


def test_trace_ids_follow_audit_ids_and_off_costs_nothing() -> None:
    assert otel_trace_id("4e6869d58dd54fbfb03c204b9c328fa1") == 0x4e6869d58dd54fbfb03c204b9c328fa1
    assert otel_trace_id("legacy-trace") == otel_trace_id("legacy-trace") != 0  # any other id: derived, stable
    assert otel_trace_id("0" * 32) != 0
    off = TurnTracing.off()
    assert off.enabled is False and off.step("x") is off.turn("y", "ab" * 16, {})  # one shared no-op span
    assert len(off.new_trace_id()) == 32


def test_the_collectors_key_is_masked_like_every_other_secret() -> None:
    env = {"JIDOKA_HOME": "/tmp/x", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:collector-pw@c:4318",
           "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20tok-123456,x-tenant=plant7"}
    line = "export failed: Bearer tok-123456 to https://u:collector-pw@c:4318/v1/traces"
    for masker in (SecretMasker.from_env(env), SecretMasker.from_settings(Settings.from_env(env))):
        shown = masker.mask(line)
        assert "tok-123456" not in shown and "collector-pw" not in shown, shown
