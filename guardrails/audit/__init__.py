"""The tamper-evident audit log: every prompt, decision, result, approval and action as a hash-chained event.

- :mod:`guardrails.audit.chain` — event kinds, canonical JSON and the hash rule (pure);
- :mod:`guardrails.audit.verify` — the chain check over stored rows (pure);
- :mod:`guardrails.audit.log` — :class:`AuditLog` on the state database, with per-turn buffers;
- :mod:`guardrails.audit.anchor` — signed checkpoints of the head in an append-only file (keys, format);
- :mod:`guardrails.audit.anchoring` — :class:`AuditAnchor` (when checkpoints are written) and the check against them;
- :mod:`guardrails.audit.trace` — :class:`Trace` (who and which turn) and :class:`AuditSink`;
- ``_store`` — the tables and the SQLite fast path; ``_fastcheck`` / ``_parallel`` — verify's per-row fast check
  and its worker processes.
"""

from guardrails.audit.anchoring import AuditAnchor
from guardrails.audit.chain import AuditEvent, AuditKind
from guardrails.audit.log import AuditBuffer, AuditLog
from guardrails.audit.trace import AuditSink, Trace
from guardrails.audit.verify import AnchorStatus, VerifyReport

__all__ = ["AnchorStatus", "AuditAnchor", "AuditBuffer", "AuditEvent", "AuditKind", "AuditLog", "AuditSink", "Trace",
           "VerifyReport"]
