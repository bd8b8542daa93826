"""Screening: pattern rules applied to user prompts, tool/document text and model answers.

Screening is defence in depth — the real boundaries are the policy gate and the
scoping inside every tool's SQL — so the rules aim for precision: a planner's
"ignore the cancelled POs" or a buyer's "is the lot pre-approved by quality?"
must pass untouched. Three stages:

- :func:`screen_input` — the user's prompt: prompt-injection and jailbreak
  families (``ignore_previous``, ``fake_role_tag``, ``embedded_order``,
  ``encoded_payload``, ``prompt_leak``, ``claimed_authority``, ``approval_bypass``).
  Verdict ``refuse``, ``neutralize`` (the offending span is replaced and the
  rest passes on) or ``allow`` (possibly with ``flag`` findings for the audit).
- :func:`screen_data` — free text coming back from tools and documents:
  instruction-like segments are neutralized, the legitimate text stays.
  (:mod:`guardrails.screening.spotlight` then wraps it as untrusted data.)
- :func:`screen_output` — the model's answer: secrets, bank accounts, contact
  data the user did not ask for, and sensitive fields that slipped past their
  mask (prices and costs when masked) are redacted.

Rules are data (:class:`ScreeningRules`, loaded from the ``screening:`` policy
section of the policy layers, starting in ``enterprise.yaml``). Text is
matched in a normalized view (NFKC-style folding, accents and zero-width
characters dropped, whitespace collapsed) and findings report spans in the
original text. Every pattern is written to run in linear time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from guardrails.errors import ScreeningInputError
from guardrails.screening._engine import Finding, apply_replacements, run_rules
from guardrails.screening._text import normalize
from guardrails.screening.rules import Action, ScreeningRule, ScreeningRules, Stage

__all__ = [
    "Action",
    "Finding",
    "OutputScreening",
    "ScreeningResult",
    "ScreeningRule",
    "ScreeningRules",
    "Stage",
    "Verdict",
    "screen_data",
    "screen_input",
    "screen_output",
]

Verdict = Literal["allow", "neutralize", "refuse"]



@dataclass(frozen=True)
class ScreeningResult:
    """The outcome of screening a prompt (or a piece of tool/document text)."""

    verdict: Verdict
    """``refuse`` if any refusing rule fired, else ``neutralize`` if any span was neutralized, else ``allow``."""
    findings: tuple[Finding, ...]
    """Every rule match, including ``flag`` findings that do not change the verdict."""
    text: str
    """The text to pass on: unchanged, or with neutralized spans replaced (do not pass it on when refused)."""

    @property
    def families(self) -> frozenset[str]:
        """The families of all findings."""
        return frozenset(f.family for f in self.findings)


@dataclass(frozen=True)
class OutputScreening:
    """The outcome of screening a model answer."""

    text: str
    """The answer with every redacted span replaced, e.g. by ``[redacted: price]``."""
    findings: tuple[Finding, ...]
    """Every rule match; excerpts of redacted values are masked."""

    @property
    def redacted(self) -> bool:
        """True when anything was redacted."""
        return any(f.action == "redact" for f in self.findings)


def _require_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ScreeningInputError(name, f"expected a string, got {type(value).__name__}")
    return value


def _require_rules(rules: object) -> ScreeningRules:
    if not isinstance(rules, ScreeningRules):
        raise ScreeningInputError("rules", f"expected ScreeningRules, got {type(rules).__name__}")
    return rules


def _screen(text: str, rules: ScreeningRules, stage: Stage) -> ScreeningResult:
    plan = rules.plan(stage)
    findings = tuple(run_rules(normalize(text), plan, stage=stage))
    if not findings:  # the common case
        return ScreeningResult("allow", findings, text)
    actions = {f.action for f in findings}
    verdict: Verdict = "refuse" if "refuse" in actions else "neutralize" if "neutralize" in actions else "allow"
    return ScreeningResult(verdict, findings, apply_replacements(text, findings, plan.replacements))


def screen_input(text: str, rules: ScreeningRules) -> ScreeningResult:
    """Screen a user prompt with the ``input``-stage rules of ``rules``."""
    return _screen(_require_text("text", text), _require_rules(rules), "input")


def screen_data(text: str, rules: ScreeningRules) -> ScreeningResult:
    """Screen free text from a tool result or document with the ``data``-stage rules.

    Findings are for the audit; instruction-like segments (``<INFORMATION>``
    blocks, "ignore previous instructions" sentences, fake role tags) come back
    replaced by ``[removed: ...]`` in ``text`` while the rest of the text stays.
    A ``refuse`` verdict (only if a data rule says so) means: drop the text.
    """
    return _screen(_require_text("text", text), _require_rules(rules), "data")


def screen_output(
    text: str,
    rules: ScreeningRules,
    *,
    masked_fields: frozenset[str],
    asked_text: str = "",
) -> OutputScreening:
    """Screen a model answer with the ``output``-stage rules and redact what must not be shown.

    ``masked_fields`` are the ``table.column`` fields the user may not see
    (normally the scope's ``masked_fields``): price/cost/bank-account rules
    apply only when their field is among them. ``asked_text`` is the user's
    question; contact-data rules are skipped when it asks for contact details.
    """
    _require_text("text", text)
    _require_text("asked_text", asked_text)
    plan = _require_rules(rules).plan("output")
    if not isinstance(masked_fields, frozenset | set):
        raise ScreeningInputError("masked_fields", "expected a frozenset of 'table.column' names")
    asked_view = normalize(asked_text).text
    findings = tuple(
        run_rules(normalize(text), plan, stage="output", masked_fields=frozenset(masked_fields),
                  asked_text=asked_view)
    )
    return OutputScreening(apply_replacements(text, findings, plan.replacements), findings)
