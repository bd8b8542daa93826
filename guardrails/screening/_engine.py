"""The matching engine behind screening: run rules on a normalized view, map hits back, rewrite text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guardrails.screening._checks import DECODERS
from guardrails.screening._text import NormalizedText, normalize
from guardrails.screening.rules import Action, ScreeningRule, Stage, StagePlan

__all__ = ["Finding", "apply_replacements", "run_rules"]

_EXCERPT_MAX = 80
_MAX_DECODE_DEPTH = 2  # a blob inside a decoded blob is still decoded once more; deeper nesting is not chased
_SENTENCE_WINDOW = 400  # a "sentence" longer than this is not one; bounds the work per finding
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_WS = re.compile(r"\s+")
_LEAD_TRIM = frozenset(" \n.,;:!?")


@dataclass(frozen=True)
class Finding:
    """One rule match: what fired, where (in the text as given), and a short excerpt for the audit log."""

    rule_id: str
    """Id of the rule that matched."""
    family: str
    """The rule's family."""
    stage: Stage
    """Stage the text was screened at."""
    action: Action
    """The rule's action (``flag``, ``neutralize``, ``refuse`` or ``redact``)."""
    span: tuple[int, int]
    """``[start, end)`` of the matched (or acted-on) text in the original string."""
    excerpt: str
    """Short excerpt of the match; for ``redact`` findings it is masked so the audit never stores the secret."""


def _masked(value: str) -> str:
    # Not even a prefix: two digits of a masked price are already a disclosure in an audit record.
    return f"[{len(_WS.sub('', value))} chars]"


def _excerpt(value: str) -> str:
    flat = _WS.sub(" ", value).strip()
    return flat if len(flat) <= _EXCERPT_MAX else flat[: _EXCERPT_MAX - 1] + "…"


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to the sentence (or line) holding it, at most ``_SENTENCE_WINDOW`` chars each way."""
    lo = max(0, start - _SENTENCE_WINDOW)
    left = lo
    for m in _SENTENCE_END.finditer(text, lo, start):
        left = m.end()
    right_match = _SENTENCE_END.search(text, end, min(len(text), end + _SENTENCE_WINDOW))
    right = right_match.end() if right_match else min(len(text), end + _SENTENCE_WINDOW)
    while left < start and text[left].isspace():
        left += 1
    return left, right


def _decoded_hit(rule: ScreeningRule, blob: str, plan: StagePlan, depth: int) -> str | None:
    """Describe why a decoded blob is an attack, or ``None`` when it is not."""
    decoded = DECODERS[rule.decode or ""](blob)
    if decoded is None:
        return None
    inner = run_rules(normalize(decoded), plan, stage=rule.stage, depth=depth + 1)
    if inner:
        return f"{rule.decode} → {inner[0].family}: {decoded}"
    if any(p.search(decoded) for p in rule.decoded_must_match):
        return f"{rule.decode} → instruction-like: {decoded}"
    return None


def run_rules(
    view: NormalizedText,
    plan: StagePlan,
    *,
    stage: Stage,
    masked_fields: frozenset[str] = frozenset(),
    asked_text: str = "",
    depth: int = 0,
) -> list[Finding]:
    """Every finding of the rules in ``plan`` on ``view``, in rule order then text order.

    Rules whose ``requires_masked_field`` does not intersect ``masked_fields``,
    or whose ``unless_asked`` matches ``asked_text``, are skipped; patterns whose
    necessary literals are absent from the text are not run at all.
    """
    if not plan.rules:
        return []
    findings: list[Finding] = []
    text = view.text
    lowered = text.lower()
    if len(lowered) != len(text):  # cannot happen after normalization (İ is folded), but spans depend on it
        lowered = ""
    active = plan.index.candidates(lowered or text.lower())
    skipped = set()
    for index in plan.conditional:  # only rules with a mask, question or decode condition need a look
        rule = plan.rules[index]
        if (
            (rule.requires_masked_field and not (rule.requires_masked_field & masked_fields))
            or (rule.unless_asked is not None and rule.unless_asked.search(asked_text))
            or (rule.decode is not None and depth >= _MAX_DECODE_DEPTH)
        ):
            skipped.add(index)
    size = len(text)
    steps = plan.steps
    for key in sorted(active):  # keys follow rule order, so findings come in rule order
        step = steps[key]
        if size < step.min_width or step.owner in skipped:  # too short to match: the engine would refuse it
            continue
        rule = step.rule
        matcher, on_lower = step.matcher, step.on_lower
        if on_lower and not lowered:
            matcher, on_lower = step.pattern, False
        check = step.check
        narrow = step.narrow
        for m in matcher.finditer(lowered if on_lower else text):
            start, end = m.span("redact") if narrow and m.start("redact") >= 0 else m.span()
            while start < end and text[start] in _LEAD_TRIM:  # imperative guards match leading punctuation
                start += 1
            if end <= start:
                continue
            if check is not None and not check(text[start:end]):
                continue
            detail = None
            if rule.decode is not None:
                detail = _decoded_hit(rule, text[start:end], plan, depth)
                if detail is None:
                    continue
            if rule.expand == "sentence":
                start, end = _sentence_bounds(text, start, end)
            o_start, o_end = view.to_original(start, end)
            matched = view.original[o_start:o_end]
            excerpt = _masked(matched) if rule.action == "redact" else _excerpt(detail or matched)
            findings.append(Finding(rule.id, rule.family, stage, rule.action, (o_start, o_end), excerpt))
    return findings


def apply_replacements(text: str, findings: Sequence[Finding], replacements: Mapping[str, str]) -> str:
    """``text`` with every acted-on finding span replaced; overlapping spans merge into one replacement.

    ``replacements`` maps rule id → replacement text; findings whose rule is not
    in it (flags) leave the text alone. A merged span takes the replacement of
    its widest finding.
    """
    if not findings:
        return text
    acted = sorted(
        (f for f in findings if f.rule_id in replacements),
        key=lambda f: (f.span[0], -(f.span[1] - f.span[0])),
    )
    if not acted:
        return text
    merged: list[tuple[int, int, str, int]] = []  # start, end, replacement, width of the widest finding
    for f in acted:
        start, end = f.span
        width = end - start
        if merged and start < merged[-1][1]:
            m_start, m_end, m_repl, m_width = merged[-1]
            repl = replacements[f.rule_id] if width > m_width else m_repl
            merged[-1] = (m_start, max(m_end, end), repl, max(width, m_width))
        else:
            merged.append((start, end, replacements[f.rule_id], width))
    parts: list[str] = []
    cursor = 0
    for start, end, repl, _ in merged:
        parts.append(text[cursor:start])
        parts.append(repl)
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)
