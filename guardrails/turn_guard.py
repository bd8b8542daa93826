"""Screening at the two ends of a turn — the prompt coming in, the answer going out — with audit events.

Screening is defence in depth: a refused prompt never reaches the model, and an
answer is redacted before anyone sees it, but the boundary itself is the gate and
the SQL scope. Every finding is flagged in the audit under the turn's trace.
"""

from __future__ import annotations

from guardrails.audit.log import AuditKind
from guardrails.audit.trace import AuditSink, Trace
from guardrails.identity import User
from guardrails.policy.loader import Policy
from guardrails.screening.screen import Finding, OutputScreening, ScreeningResult, screen_input, screen_output

__all__ = ["TurnGuard", "answer_masks", "hidden_fields"]

MAX_AUDITED_TEXT = 4000


def hidden_fields(policy: Policy, user: User) -> frozenset[str]:
    """Sensitive fields ``user`` may not see row by row at one or more of their sites."""
    sites = policy.user_sites(user) or frozenset({""})
    hidden: set[str] = set()
    for site in sites:
        rules = policy.fields_at(site) if site else policy.fields
        hidden |= {name for name, rule in rules.items() if not user.roles & rule.visible_to}
    return frozenset(hidden)


def answer_masks(policy: Policy, user: User) -> frozenset[str]:
    """The masks output screening applies to an answer for ``user``.

    Text cannot tell a PO price from a sales price, so price redaction applies
    only to users who may see no price at all; for the others, prices in an
    answer come from their own scoped tool results (the grounding check holds
    every figure to those results).
    """
    hidden = hidden_fields(policy, user)
    prices = {name for name in policy.fields if name.endswith(".unit_price")}
    if prices - hidden:
        hidden -= prices
    return frozenset(hidden)


def _findings(findings: tuple[Finding, ...]) -> list[dict[str, object]]:
    return [{"rule_id": f.rule_id, "family": f.family, "action": f.action, "excerpt": f.excerpt} for f in findings]


class TurnGuard:
    """Screens prompts and answers against the policy's screening rules and records what it found."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._masks: tuple[Policy, dict[User, frozenset[str]]] = (policy, {})

    def masks(self, user: User) -> frozenset[str]:
        """:func:`answer_masks` of ``user`` under this guard's policy, derived once per user (the warm path)."""
        policy, known = self._masks
        if policy is not self.policy:  # the policy was swapped: what was derived from the old one is dropped
            policy, known = self._masks = (self.policy, {})
        masks = known.get(user)
        if masks is None:
            masks = known[user] = answer_masks(policy, user)
        return masks

    def screen_prompt(self, user: User, text: str, *, trace: Trace, audit: AuditSink) -> ScreeningResult:
        """Record the prompt, screen it, and record the verdict (always, so the audit shows it was checked)."""
        audit.add(trace.event(AuditKind.PROMPT, {"text": text[:MAX_AUDITED_TEXT], "chars": len(text),
                                                 "roles": sorted(user.roles)}))
        result = screen_input(text, self.policy.screening)
        audit.add(trace.event(AuditKind.SCREENING, {"stage": "input", "verdict": result.verdict,
                                                    "families": sorted(result.families),
                                                    "findings": _findings(result.findings)}))
        return result

    def screen_answer(self, user: User, answer: str, *, asked: str, trace: Trace,
                      audit: AuditSink) -> OutputScreening:
        """Redact from ``answer`` what ``user`` may not see; record findings only when there are any."""
        result = screen_output(answer, self.policy.screening, masked_fields=self.masks(user), asked_text=asked)
        if result.findings:
            audit.add(trace.event(AuditKind.SCREENING, {"stage": "output", "redacted": result.redacted,
                                                        "findings": _findings(result.findings)}))
        return result
