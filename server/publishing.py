"""Publications at the edge: the publication service built from settings, for the commands that publish.

``jidoka knowledge ingest`` and ``jidoka approvals`` (an approved replacement is published) need the policy, the
state database (audit log and approval requests) and the knowledge index — not the plant, so they do not build a
whole :class:`~server.runtime.Runtime` (a knowledge base can be filled before ``jidoka init`` built a plant). The
server's runtime builds its own :class:`~guardrails.publishing.Publications` on the runtime's resources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from guardrails.approvals.store import ApprovalStore
from guardrails.audit.log import AuditLog
from guardrails.policy.loader import Policy, catalog_policy
from guardrails.publishing import Publications
from server.databases import Database, reach
from server.runtime import audit_anchor, audit_sealer, knowledge_index
from server.schema import prepare_state
from server.settings import Settings
from tools import default_catalog, make_engine

__all__ = ["PublishingSession", "open_publications"]


@dataclass(frozen=True)
class PublishingSession:
    """The publication service and the audit log it writes to (closed by :func:`open_publications`)."""

    publications: Publications
    audit: AuditLog
    state_engine: Engine

    @property
    def location(self) -> str:
        """Where the knowledge index lives, for messages."""
        return self.publications.index.location


@contextmanager
def open_publications(settings: Settings, *, policy: Policy | None = None,
                      clock: Callable[[], datetime] | None = None) -> Iterator[PublishingSession]:
    """The publication service on the configured policy, state database and knowledge index; the audit chain is
    anchored and the engine disposed on exit. An embedded SQLite state database is created or upgraded."""
    loaded = policy if policy is not None else catalog_policy(settings.policy_dir, default_catalog())
    state = make_engine(settings.state_url)
    audit: AuditLog | None = None
    try:
        reach(state, Database.STATE)
        prepare_state(state, settings.state_url)
        audit = AuditLog(state, anchor=audit_anchor(settings), sealer=audit_sealer(settings, state, loaded))
        service = Publications(policy=loaded, index=knowledge_index(settings),
                               store=ApprovalStore(state, clock=clock), clock=clock)
        yield PublishingSession(service, audit, state)
    finally:
        try:
            if audit is not None:
                audit.close()
        finally:
            state.dispose()
