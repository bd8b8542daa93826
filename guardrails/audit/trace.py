"""Who an audit event is about (:class:`Trace`), where a turn's events go (:class:`AuditSink`), and the event a
read of the log leaves (:func:`audit_read_event`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from guardrails.audit.chain import AuditEvent, AuditKind

__all__ = ["AuditSink", "Trace", "audit_read_event"]


class AuditSink(Protocol):
    """Where a turn's audit events go (an :class:`guardrails.audit.log.AuditBuffer`, usually)."""

    def add(self, event: AuditEvent) -> None:
        """Record ``event``."""
        ...


@dataclass(frozen=True)
class Trace:
    """Who is asking and which turn an event belongs to."""

    trace_id: str
    thread_id: str | None
    user_id: str
    policy_hash: str

    def event(self, kind: AuditKind, payload: Mapping[str, Any]) -> AuditEvent:
        """An audit event of ``kind`` for this trace."""
        return AuditEvent(trace_id=self.trace_id, thread_id=self.thread_id, user_id=self.user_id, kind=kind,
                          payload=payload, policy_hash=self.policy_hash)


def audit_read_event(reader: str, read: str, details: Mapping[str, Any], *, via: str,
                     policy_hash: str = "") -> AuditEvent:
    """An ``audit_read`` event in a trace of its own: who read the log (``reader``), through what (``via``: ``api``
    or ``cli``), which read (``read``: ``trace``, ``tail``, ``verify``, ``export``) and what it returned
    (``details``: the trace read, how many records, the newest seq seen...).

    Appended *after* the read: a read never returns its own event, and reading a trace never adds to that trace
    (the event has a trace id of its own), so repeated reads of one trace return the same records.
    """
    return AuditEvent(trace_id=uuid.uuid4().hex, thread_id=None, user_id=reader, kind=AuditKind.AUDIT_READ,
                      payload={"read": read, "via": via, **details}, policy_hash=policy_hash)
