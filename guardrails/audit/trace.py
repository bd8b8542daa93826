"""Who an audit event is about (:class:`Trace`) and where a turn's events go (:class:`AuditSink`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from guardrails.audit.chain import AuditEvent, AuditKind

__all__ = ["AuditSink", "Trace"]


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
