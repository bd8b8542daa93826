"""OpenTelemetry spans of governed turns: one span per turn, one per governance step.

:class:`TurnTracing` is built at the edge (``server.telemetry``) and injected into the copilot, the governed
tools and the audit log. Off (the default: no ``OTEL_*`` exporter configured), every call returns one shared
do-nothing object — no span, no context switch — so an untraced turn costs what it cost before tracing existed.

Attributes carry only ids, names, counts, effects and rule ids: never prompt or answer text, tool arguments or
payloads, prices or error messages (an exception is recorded by its type name only).

The turn span's trace id is the turn's audit trace id (:func:`otel_trace_id`): a turn started inside a server
request span that jidoka's own tracer began (no remote parent) takes that request's trace id as its audit trace
id (:meth:`TurnTracing.new_trace_id`, once per request), so the request span is the turn span's parent; any other
turn (CLI, an incoming ``traceparent`` a client chose, a resumed turn) keeps a jidoka-made audit id and starts a
root span whose trace id is derived from it, linked to the span it ran under.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import trace as otel
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer

__all__ = ["ADOPTED_ATTRIBUTE", "NO_SPAN", "AttributeValue", "PendingTraceId", "StepSpan", "TurnTracing",
           "otel_trace_id"]

AttributeValue = str | bool | int | float | Sequence[str] | Sequence[int]

ADOPTED_ATTRIBUTE = "jidoka.trace_id"
"""Set on a server request span whose trace id a turn took as its audit trace id (a request gives it once)."""

_HEX = frozenset("0123456789abcdef")


def otel_trace_id(audit_trace_id: str) -> int:
    """The OpenTelemetry trace id of an audit trace id: the same 128 bits for a 32-hex-digit id (every id jidoka
    mints); for any other id, the first 128 bits of its SHA-256 (deterministic, never the invalid 0)."""
    text = audit_trace_id.lower()
    if len(text) == 32 and set(text) <= _HEX and int(text, 16):
        return int(text, 16)
    digest = int.from_bytes(hashlib.sha256(audit_trace_id.encode()).digest()[:16], "big")
    return digest or 1


class PendingTraceId:
    """The trace id the next root span started on this thread must take.

    The id generator the server installs in its tracer provider reads it (:meth:`take`); :class:`TurnTracing`
    puts the turn's id here just before it starts a root turn span and clears it right after.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def put(self, trace_id: int | None) -> None:
        """Make ``trace_id`` the next root span's trace id on this thread (``None`` clears it)."""
        self._local.trace_id = trace_id

    def take(self) -> int | None:
        """The pending trace id, cleared (``None`` when there is none)."""
        trace_id: int | None = getattr(self._local, "trace_id", None)
        self._local.trace_id = None
        return trace_id


class StepSpan:
    """One open span of a turn: :meth:`set` adds an attribute (an id, a name, a count, an effect)."""

    __slots__ = ("_cm", "_span")

    def __init__(self, cm: Any = None) -> None:
        self._cm = cm
        self._span: Any = None

    def set(self, key: str, value: AttributeValue | None) -> None:
        """Set attribute ``key`` (``None`` values are left out)."""
        if self._span is not None and value is not None:
            self._span.set_attribute(key, value)

    def set_many(self, attributes: Mapping[str, AttributeValue | None]) -> None:
        """Set each of ``attributes`` (``None`` values are left out)."""
        for key, value in attributes.items():
            self.set(key, value)

    def __enter__(self) -> StepSpan:
        if self._cm is not None:
            self._span = self._cm.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._cm is None:
            return
        if ev is not None and self._span is not None:
            # The type only: an exception's message may quote a value the attributes must not carry.
            self._span.set_attribute("error.type", type(ev).__name__)
            self._span.set_status(Status(StatusCode.ERROR))
        self._cm.__exit__(None, None, None)  # already recorded above, without the message
        self._span = None


NO_SPAN = _OFF = StepSpan()
"""The span of every step when tracing is off: entering, setting and leaving it do nothing (callers may skip
building attributes for it)."""


class TurnTracing:
    """Spans of governed turns on an OpenTelemetry tracer, or nothing at all (:meth:`off`)."""

    def __init__(self, tracer: Tracer | None = None, pending: PendingTraceId | None = None) -> None:
        """``tracer`` from a provider whose id generator reads ``pending`` (``server.telemetry`` builds both; with
        another provider a root turn span would get a random trace id); without a tracer, tracing is off."""
        self._tracer = tracer
        self._pending = pending

    @classmethod
    def off(cls) -> TurnTracing:
        """No spans: every method is a no-op (and :meth:`new_trace_id` a fresh random id)."""
        return cls()

    @property
    def enabled(self) -> bool:
        """True when spans are recorded."""
        return self._tracer is not None

    def new_trace_id(self) -> str:
        """The audit trace id of a new turn: the trace id of the server request span it runs in when jidoka's
        tracer began that span itself and no turn took it yet (so the request span is the turn's parent); a
        fresh random id otherwise (tracing off, no request span, or a trace a client's ``traceparent`` chose)."""
        if self._tracer is not None:
            span = otel.get_current_span()
            context = span.get_span_context()
            attributes = getattr(span, "attributes", None) or {}
            if (span.is_recording() and context.is_valid and getattr(span, "kind", None) is SpanKind.SERVER
                    and getattr(span, "parent", "unknown") is None and ADOPTED_ATTRIBUTE not in attributes):
                trace_id = format(context.trace_id, "032x")
                span.set_attribute(ADOPTED_ATTRIBUTE, trace_id)
                return trace_id
        return uuid.uuid4().hex

    def turn(self, name: str, trace_id: str, attributes: Mapping[str, AttributeValue | None]) -> StepSpan:
        """The span of one turn (or of the resumed part of one) under audit trace ``trace_id``: a child of the
        current span when that span is in the same trace, else a root span of trace :func:`otel_trace_id`
        linked to the current span (if any)."""
        if self._tracer is None:
            return _OFF
        wanted = otel_trace_id(trace_id)
        current = otel.get_current_span().get_span_context()
        shown = {k: v for k, v in attributes.items() if v is not None}
        shown["jidoka.trace_id"] = trace_id
        if current.is_valid and current.trace_id == wanted:
            return StepSpan(self._tracer.start_as_current_span(
                name, attributes=shown, record_exception=False, set_status_on_exception=False))
        return _RootSpan(self._tracer, self._pending, name, wanted, shown,
                         [Link(current)] if current.is_valid else [])

    def step(self, name: str, attributes: Mapping[str, AttributeValue | None] | None = None) -> StepSpan:
        """The span of one governance step, a child of the current span."""
        if self._tracer is None:
            return _OFF
        shown = {k: v for k, v in (attributes or {}).items() if v is not None}
        return StepSpan(self._tracer.start_as_current_span(name, attributes=shown, record_exception=False,
                                                           set_status_on_exception=False))


class _RootSpan(StepSpan):
    """A root span whose trace id is chosen (through :class:`PendingTraceId`), started on entry."""

    __slots__ = ("_args",)

    def __init__(self, tracer: Tracer, pending: PendingTraceId | None, name: str, trace_id: int,
                 attributes: dict[str, AttributeValue], links: list[Link]) -> None:
        super().__init__()
        self._args = (tracer, pending, name, trace_id, attributes, links)

    def __enter__(self) -> StepSpan:
        tracer, pending, name, trace_id, attributes, links = self._args
        if pending is not None:
            pending.put(trace_id)
        try:  # the empty context makes it a root: the id generator is asked for the trace id right here
            self._cm = tracer.start_as_current_span(name, context=Context(), attributes=attributes, links=links,
                                                    record_exception=False, set_status_on_exception=False)
            return super().__enter__()
        finally:
            if pending is not None:
                pending.put(None)  # never left for an unrelated root span (a sampler or a no-op tracer skipped it)
