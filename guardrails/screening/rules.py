"""Screening rules as data: the rule type, the rule set, and its validating loader.

A rule set comes from a plain mapping or list (the ``screening:`` section of a
policy file, already parsed); every regex is compiled once here, and any
mistake is reported as a :class:`~guardrails.errors.PolicyError` naming the
rule id and key. Lower policy layers (plants) may only *add* rules:
:meth:`ScreeningRules.extended` refuses to replace an existing id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from guardrails.errors import PolicyError
from guardrails.screening._checks import DECODERS, VALIDATORS
from guardrails.screening._index import LiteralIndex, lowercase_matcher, min_width

__all__ = ["Action", "Expand", "PatternStep", "ScreeningRule", "ScreeningRules", "Stage", "StagePlan"]

Stage = Literal["input", "output", "data"]
Action = Literal["flag", "neutralize", "refuse", "redact"]
Expand = Literal["match", "sentence"]

_STAGE_ACTIONS: Mapping[str, frozenset[str]] = {
    "input": frozenset({"flag", "neutralize", "refuse"}),
    "data": frozenset({"flag", "neutralize", "refuse"}),
    "output": frozenset({"flag", "redact"}),
}
_KNOWN_KEYS = frozenset({
    "id", "family", "stage", "action", "pattern", "patterns", "description", "case_sensitive",
    "requires_masked_field", "unless_asked", "validator", "decode", "decoded_must_match", "expand", "label",
})
_ID_RE = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+")
_FAMILY_RE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ScreeningRule:
    """One screening rule: where it applies, what it matches, and what happens on a match."""

    id: str
    """Stable id cited in findings and audit records, e.g. ``SCR-IN-001``."""
    family: str
    """Attack or leak family, e.g. ``ignore_previous``, ``secret``, ``price``."""
    stage: Stage
    """``input`` (user prompt), ``data`` (tool/document free text) or ``output`` (model answer)."""
    action: Action
    """``flag`` (finding only), ``neutralize``/``refuse`` (input, data) or ``redact`` (output)."""
    patterns: tuple[re.Pattern[str], ...]
    """Compiled patterns, matched against the normalized text. A group named ``redact`` (when it takes part
    in the match) narrows the span acted on to that group."""
    description: str = ""
    """What the rule catches and why, for people reading the policy."""
    requires_masked_field: frozenset[str] = frozenset()
    """Applies only when at least one of these fields is masked for the user; empty = always applies."""
    unless_asked: re.Pattern[str] | None = None
    """Output rules: skipped when the user's question matches this (e.g. asked for contact data)."""
    validator: str | None = None
    """Name of a check (``iban_mod97``, ``aba_routing``, ``min_six_digits``) a match must pass."""
    decode: str | None = None
    """Name of a decoder (``base64``, ``hex``, ``rot13``): matches are decoded and the decoded text screened."""
    decoded_must_match: tuple[re.Pattern[str], ...] = ()
    """Decode rules: decoded text matching any of these counts even when no other rule fires on it."""
    expand: Expand = "match"
    """``sentence`` widens the acted-on span to the whole sentence holding the match (data neutralization)."""
    label: str = ""
    """Word used in the replacement, e.g. ``[redacted: price]``; defaults to the family."""

    @property
    def replacement(self) -> str:
        """The text that replaces a neutralized or redacted span."""
        word = self.label or self.family.replace("_", " ")
        return f"[redacted: {word}]" if self.action == "redact" else f"[removed: {word}]"


def _fail(source: str, key: str, message: str) -> PolicyError:
    return PolicyError(source, key, message)


def _compile(source: str, key: str, pattern: object, flags: int) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise _fail(source, key, "a pattern must be a non-empty string")
    try:
        return re.compile(pattern, flags)
    except re.error as err:
        raise _fail(source, key, f"invalid regex ({err})") from None


def _str_list(source: str, key: str, value: object) -> list[object]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value:
        return list(value)
    raise _fail(source, key, "expected a string or a non-empty list of strings")


def _choice(source: str, key: str, value: object, allowed: Iterable[str]) -> str:
    options = sorted(allowed)
    if not isinstance(value, str) or value not in options:
        raise _fail(source, key, f"{value!r} is not one of {', '.join(options)}")
    return value


def _rule_from_mapping(source: str, index: int, raw: object) -> ScreeningRule:
    if not isinstance(raw, Mapping):
        raise _fail(source, f"rules[{index}]", "each rule must be a mapping")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID_RE.fullmatch(rule_id):
        raise _fail(source, f"rules[{index}].id", f"{rule_id!r} is not a rule id like 'SCR-IN-001'")
    unknown = sorted(str(k) for k in raw if k not in _KNOWN_KEYS)
    if unknown:
        raise _fail(source, f"{rule_id}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(_KNOWN_KEYS))})")
    family = raw.get("family")
    if not isinstance(family, str) or not _FAMILY_RE.fullmatch(family):
        raise _fail(source, f"{rule_id}.family", f"{family!r} is not a lower_snake_case family name")
    stage = _choice(source, f"{rule_id}.stage", raw.get("stage"), _STAGE_ACTIONS)
    action = _choice(source, f"{rule_id}.action", raw.get("action"), _STAGE_ACTIONS[stage])
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise _fail(source, f"{rule_id}.case_sensitive", "expected true or false")
    flags = re.MULTILINE | (0 if case_sensitive else re.IGNORECASE)
    if ("pattern" in raw) == ("patterns" in raw):
        raise _fail(source, f"{rule_id}.patterns", "give exactly one of 'pattern' or 'patterns'")
    pattern_key = "pattern" if "pattern" in raw else "patterns"
    patterns = tuple(
        _compile(source, f"{rule_id}.{pattern_key}[{j}]", p, flags)
        for j, p in enumerate(_str_list(source, f"{rule_id}.{pattern_key}", raw[pattern_key]))
    )
    masked: frozenset[str] = frozenset()
    if raw.get("requires_masked_field") is not None:
        fields = _str_list(source, f"{rule_id}.requires_masked_field", raw["requires_masked_field"])
        if not all(isinstance(f, str) and "." in f for f in fields):
            raise _fail(source, f"{rule_id}.requires_masked_field", "fields are named 'table.column'")
        masked = frozenset(cast("list[str]", fields))
    unless = raw.get("unless_asked")
    unless_asked = _compile(source, f"{rule_id}.unless_asked", unless, re.IGNORECASE) if unless else None
    validator = raw.get("validator")
    if validator is not None:
        validator = _choice(source, f"{rule_id}.validator", validator, VALIDATORS)
    decode = raw.get("decode")
    if decode is not None:
        decode = _choice(source, f"{rule_id}.decode", decode, DECODERS)
    must = raw.get("decoded_must_match")
    if must is not None and decode is None:
        raise _fail(source, f"{rule_id}.decoded_must_match", "only valid together with 'decode'")
    decoded_must_match = tuple(
        _compile(source, f"{rule_id}.decoded_must_match[{j}]", p, re.IGNORECASE | re.MULTILINE)
        for j, p in enumerate(_str_list(source, f"{rule_id}.decoded_must_match", must) if must else [])
    )
    expand = _choice(source, f"{rule_id}.expand", raw.get("expand", "match"), get_args(Expand))
    for key in ("description", "label"):
        if not isinstance(raw.get(key, ""), str):
            raise _fail(source, f"{rule_id}.{key}", "expected a string")
    return ScreeningRule(
        id=rule_id,
        family=family,
        stage=cast("Stage", stage),
        action=cast("Action", action),
        patterns=patterns,
        description=str(raw.get("description", "")).strip(),
        requires_masked_field=masked,
        unless_asked=unless_asked,
        validator=validator,
        decode=decode,
        decoded_must_match=decoded_must_match,
        expand=cast("Expand", expand),
        label=str(raw.get("label", "")),
    )


@dataclass(frozen=True)
class PatternStep:
    """One pattern of a stage plan with everything the engine looks up per pattern, resolved once."""

    owner: int
    """Index of the pattern's rule in the plan's ``rules``."""
    rule: ScreeningRule
    """That rule."""
    pattern: re.Pattern[str]
    """The pattern as the rule has it."""
    matcher: re.Pattern[str]
    """The compiled matcher to run (the pattern, or its lowercase twin)."""
    on_lower: bool
    """Whether ``matcher`` runs on the lowercased text."""
    narrow: bool
    """Whether the pattern has a ``redact`` group (which narrows the span acted on)."""
    check: Callable[[str], bool] | None
    """The rule's validator, if it has one."""
    min_width: int
    """No text shorter than this can match (the regex engine's own lower bound; 0 when unknown)."""


@dataclass(frozen=True)
class StagePlan:
    """The rules of one stage, ready to run: each pattern has a key (``offsets[rule] + pattern``) in ``index``."""

    rules: tuple[ScreeningRule, ...]
    """The stage's rules in policy order."""
    offsets: tuple[int, ...]
    """Key of each rule's first pattern."""
    index: LiteralIndex
    """Literal prefilter over every pattern of the stage."""
    matchers: tuple[tuple[re.Pattern[str], bool], ...]
    """Per pattern key: the compiled matcher to run, and whether it runs on the lowercased text."""
    owners: tuple[int, ...]
    """Per pattern key: the index of its rule in ``rules``."""
    conditional: tuple[int, ...]
    """Indexes of rules with a ``requires_masked_field``, ``unless_asked`` or ``decode`` condition."""
    replacements: Mapping[str, str]
    """Rule id → replacement text, for the neutralizing and redacting rules."""
    steps: tuple[PatternStep, ...] = field(init=False, repr=False, compare=False)
    """Per pattern key: the pattern with its rule, matcher, validator and minimum match width (derived)."""

    def __post_init__(self) -> None:
        validators = [VALIDATORS[r.validator] if r.validator else None for r in self.rules]
        patterns = [pattern for rule in self.rules for pattern in rule.patterns]
        steps = tuple(
            PatternStep(owner, self.rules[owner], pattern, matcher, on_lower, "redact" in pattern.groupindex,
                        validators[owner], min(min_width(pattern), min_width(matcher)))
            for owner, pattern, (matcher, on_lower) in zip(self.owners, patterns, self.matchers, strict=True)
        )
        object.__setattr__(self, "steps", steps)

    @classmethod
    def build(cls, rules: tuple[ScreeningRule, ...]) -> StagePlan:
        """Index ``rules`` (done once, when a rule set is created)."""
        offsets: list[int] = []
        patterns: list[re.Pattern[str]] = []
        for rule in rules:
            offsets.append(len(patterns))
            patterns.extend(rule.patterns)
        matchers = []
        for pattern in patterns:
            twin = lowercase_matcher(pattern)
            matchers.append((twin, True) if twin is not None else (pattern, False))
        owners = tuple(i for i, rule in enumerate(rules) for _ in rule.patterns)
        conditional = tuple(
            i for i, r in enumerate(rules) if r.requires_masked_field or r.unless_asked is not None or r.decode
        )
        replacements = {r.id: r.replacement for r in rules if r.action in ("neutralize", "redact")}
        return cls(rules, tuple(offsets), LiteralIndex.build(patterns), tuple(matchers), owners, conditional,
                   replacements)


@dataclass(frozen=True)
class ScreeningRules:
    """An ordered, immutable set of screening rules with unique ids."""

    rules: tuple[ScreeningRule, ...]
    """The rules in policy order."""
    source: str = "screening"
    """Where the rules came from (policy file or section name), used in error messages."""
    _plans: Mapping[str, StagePlan] = field(init=False, repr=False, compare=False)
    _data_memo: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for rule in self.rules:
            if not isinstance(rule, ScreeningRule):
                raise _fail(self.source, "rules", f"expected ScreeningRule items, got {type(rule).__name__}")
            if rule.id in seen:
                raise _fail(self.source, rule.id, "duplicate rule id (lower layers may only add new rules)")
            seen.add(rule.id)
        plans = {stage: StagePlan.build(self.for_stage(cast("Stage", stage))) for stage in _STAGE_ACTIONS}
        object.__setattr__(self, "_plans", plans)
        object.__setattr__(self, "_data_memo", {})

    @property
    def data_memo(self) -> dict[str, Any]:
        """Data-stage screening results of these rules by text (see :func:`~guardrails.screening.spotlight.
        screen_and_spotlight`): a result is a pure function of (text, rules), and plant free text (item
        descriptions, supplier names, notes) comes back in result after result."""
        return self._data_memo

    @classmethod
    def from_config(cls, obj: object, source: str = "screening") -> ScreeningRules:
        """Validate and compile a rule set from parsed policy data.

        ``obj`` is a list of rule mappings, a mapping with a ``rules`` list, or a
        mapping with a ``screening`` section holding either. Raises
        :class:`~guardrails.errors.PolicyError` naming ``source``, the rule id and
        the offending key.
        """
        if isinstance(obj, Mapping) and "screening" in obj:
            obj = obj["screening"]
        if isinstance(obj, Mapping):
            extra = sorted(str(k) for k in obj if k not in ("rules", "version"))
            if extra:
                raise _fail(source, extra[0], "unknown key in the screening section (expected 'rules')")
            obj = obj.get("rules")
        if not isinstance(obj, Sequence) or isinstance(obj, str | bytes):
            raise _fail(source, "rules", "expected a list of rules")
        return cls(tuple(_rule_from_mapping(source, i, raw) for i, raw in enumerate(obj)), source)

    @classmethod
    def from_layers(cls, layers: Iterable[tuple[str, object]]) -> ScreeningRules:
        """One rule set from policy layers, top layer first: ``[(file, raw screening section), ...]``.

        The first layer defines the rules, every lower layer may only add rules
        (e.g. ``[(d.file, raw) for d, raw in policy.sections("screening")]``).
        """
        items = list(layers)
        if not items:
            raise _fail("screening", "layers", "no policy layer has a screening section")
        (top_file, top), *lower = items
        rules = cls.from_config(top, top_file)
        for file, raw in lower:
            rules = rules.extended(raw, source=file)
        return rules

    def extended(self, more_rules: Iterable[ScreeningRule] | object, source: str | None = None) -> ScreeningRules:
        """A new rule set with ``more_rules`` appended (rules or parsed config); existing ids cannot change."""
        if isinstance(more_rules, ScreeningRules):
            added: tuple[ScreeningRule, ...] = more_rules.rules
        elif isinstance(more_rules, Iterable) and not isinstance(more_rules, Mapping | str | bytes):
            items = list(more_rules)
            if all(isinstance(r, ScreeningRule) for r in items):
                added = tuple(cast("list[ScreeningRule]", items))
            else:
                added = ScreeningRules.from_config(items, source or self.source).rules
        else:
            added = ScreeningRules.from_config(more_rules, source or self.source).rules
        return ScreeningRules(self.rules + added, source or self.source)

    def for_stage(self, stage: Stage) -> tuple[ScreeningRule, ...]:
        """The rules that apply at ``stage``, in policy order."""
        return tuple(rule for rule in self.rules if rule.stage == stage)

    def plan(self, stage: Stage) -> StagePlan:
        """The prepared rules of ``stage`` (built once, when the rule set was created)."""
        return self._plans[stage]

    def get(self, rule_id: str) -> ScreeningRule:
        """The rule with ``rule_id``; ``KeyError`` when absent."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def __iter__(self) -> Iterator[ScreeningRule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)
