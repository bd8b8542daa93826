"""The OpenTelemetry tracer provider, built at the edge from :class:`~server.tracing_settings.TracingSettings`.

:func:`build_telemetry` makes nothing when no exporter is configured (the copilot then gets
:meth:`TurnTracing.off`, and the HTTP app is not instrumented); otherwise one SDK tracer provider with the
configured exporters behind a batch processor. The FastAPI lifespan and the CLI entry build it, inject its
:class:`~guardrails.tracing.TurnTracing` into the runtime, and shut it down (flushing) when they stop. No global
provider is installed: jidoka's spans come only from the provider it was handed.

Exported spans pass :func:`_scrubbed` first: exception events keep their type and lose their message and
stack trace (the HTTP instrumentation records unhandled exceptions with their message, which may quote data).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guardrails.tracing import PendingTraceId, TurnTracing
from server.tracing_settings import TracingSettings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["TRACER_NAME", "Telemetry", "build_telemetry", "instrument_app"]

TRACER_NAME = "jidoka"
"""The instrumentation scope of jidoka's own spans."""

_SCRUBBED_EVENT_KEYS = frozenset({"exception.message", "exception.stacktrace"})


@dataclass
class Telemetry:
    """What the edge owns: the turn tracing to inject and the provider behind it (``None`` when off)."""

    tracing: TurnTracing
    provider: TracerProvider | None = None

    @classmethod
    def off(cls) -> Telemetry:
        """No tracing at all."""
        return cls(TurnTracing.off())

    def shutdown(self) -> None:
        """Flush what is queued and stop the exporters (nothing to do when off)."""
        if self.provider is not None:
            self.provider.shutdown()
            self.provider = None


def build_telemetry(settings: TracingSettings, *, exporters: Sequence[SpanExporter] = ()) -> Telemetry:
    """The tracer provider ``settings`` describe, plus ``exporters`` (tests: an in-memory exporter, exported
    synchronously); :meth:`Telemetry.off` when there is neither."""
    if not settings.enabled and not exporters:
        return Telemetry.off()
    # Deferred: the SDK is loaded only by a process that exports spans.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    pending = PendingTraceId()
    resource = Resource.create({**dict(settings.resource_attributes), "service.name": settings.service_name})
    provider = TracerProvider(resource=resource, sampler=_sampler(settings), id_generator=_ids(pending))
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(_scrubbed(exporter)))
    for name in settings.exporters:
        provider.add_span_processor(BatchSpanProcessor(_scrubbed(_exporter(name, settings))))
    return Telemetry(TurnTracing(provider.get_tracer(TRACER_NAME), pending), provider)


def instrument_app(app: FastAPI, telemetry: Telemetry, settings: TracingSettings) -> None:
    """Add the HTTP server spans to ``app`` (nothing when tracing is off). The per-message ``send``/``receive``
    spans are left out: an SSE answer would make one per event."""
    if telemetry.provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=telemetry.provider, excluded_urls=settings.excluded_urls,
                                       exclude_spans=["receive", "send"])


def _sampler(settings: TracingSettings):  # type: ignore[no-untyped-def]
    from opentelemetry.sdk.trace import sampling

    ratio = settings.sampler_arg
    return {"always_on": lambda: sampling.ALWAYS_ON, "always_off": lambda: sampling.ALWAYS_OFF,
            "traceidratio": lambda: sampling.TraceIdRatioBased(ratio),
            "parentbased_always_on": lambda: sampling.ParentBased(sampling.ALWAYS_ON),
            "parentbased_always_off": lambda: sampling.ParentBased(sampling.ALWAYS_OFF),
            "parentbased_traceidratio": lambda: sampling.ParentBased(sampling.TraceIdRatioBased(ratio)),
            }[settings.sampler]()


def _ids(pending: PendingTraceId):  # type: ignore[no-untyped-def]
    """Random ids from the OS (trace ids become audit trace ids: they must not be predictable), except a root
    turn span's trace id, which is its audit trace id (``pending``)."""
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class AuditTraceIds(IdGenerator):
        def generate_span_id(self) -> int:
            return int.from_bytes(os.urandom(8), "big") or 1

        def generate_trace_id(self) -> int:
            wanted = pending.take()
            return wanted if wanted is not None else (int.from_bytes(os.urandom(16), "big") or 1)

    return AuditTraceIds()


def _exporter(name: str, settings: TracingSettings) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(service_name=settings.service_name)
    headers = dict(settings.headers) or None
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=settings.endpoint, headers=headers)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=settings.endpoint, headers=headers)


def _scrubbed(exporter: SpanExporter) -> SpanExporter:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Status

    def scrub(span: ReadableSpan) -> ReadableSpan:
        dirty = span.status.description or any(
            _SCRUBBED_EVENT_KEYS & set(event.attributes or {}) for event in span.events)
        if not dirty:
            return span
        events = [Event(e.name, {k: v for k, v in (e.attributes or {}).items() if k not in _SCRUBBED_EVENT_KEYS},
                        e.timestamp) for e in span.events]
        return ReadableSpan(name=span.name, context=span.context, parent=span.parent, resource=span.resource,
                            attributes=span.attributes, events=events, links=span.links, kind=span.kind,
                            status=Status(span.status.status_code), start_time=span.start_time,
                            end_time=span.end_time, instrumentation_scope=span.instrumentation_scope)

    class Scrubbed(SpanExporter):
        """``exporter`` receiving every span without exception messages or stack traces."""

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return exporter.export([scrub(s) for s in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    return Scrubbed()
