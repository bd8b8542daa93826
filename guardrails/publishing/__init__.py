"""Publishing documents into the knowledge base as a governed action (issue 16, finding 4).

- :mod:`guardrails.publishing.gate` — who may publish which document (policy ``knowledge:`` section and the
  ``knowledge.publish`` permission), and which replacements need an owner's approval;
- :mod:`guardrails.publishing.service` — publications decided, audited and carried out; replacements as approval
  requests, published exactly once when approved; the shipped corpus by the system publisher;
- :mod:`guardrails.publishing.report` — what a publication did, document by document;
- :mod:`guardrails.publishing.events` — the audit payloads of publications.
"""

from guardrails.publishing.gate import PUBLISH_ACTION, SYSTEM_PUBLISHER, PublicationDecision, PublicationGate
from guardrails.publishing.report import DocumentOutcome, PublicationReport
from guardrails.publishing.service import Publications, SettledPublication

__all__ = ["PUBLISH_ACTION", "SYSTEM_PUBLISHER", "DocumentOutcome", "PublicationDecision", "PublicationGate",
           "PublicationReport", "Publications", "SettledPublication"]
