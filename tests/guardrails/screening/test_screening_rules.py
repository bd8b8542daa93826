"""Screening rules as data (shapes, plant extensions, layering, errors naming the rule and key), the literal
prefilter, and linear time on long adversarial inputs."""

from __future__ import annotations

import re

import pytest

from guardrails.errors import PolicyError, ScreeningInputError
from guardrails.screening._index import necessary_factors
from guardrails.screening._text import normalize
from guardrails.screening.screen import ScreeningRules, screen_data, screen_input, screen_output

# ---------------------------------------------------------------- rules as data


def _rule(**over: object) -> dict[str, object]:
    base: dict[str, object] = {"id": "SCR-P200-001", "family": "plant_rule", "stage": "input",
                               "action": "refuse", "patterns": [r"\bcodigo\s+rojo\b"]}
    base.update(over)
    return base


@pytest.mark.parametrize(("over", "key", "message"), [
    ({"patterns": ["(unclosed"]}, "SCR-P200-001.patterns[0]", "invalid regex"),
    ({"action": "explode"}, "SCR-P200-001.action", "not one of"),
    ({"action": "redact"}, "SCR-P200-001.action", "not one of"),
    ({"stage": "later"}, "SCR-P200-001.stage", "not one of"),
    ({"colour": "red"}, "SCR-P200-001.colour", "unknown key"),
    ({"id": "bad id"}, "rules[0].id", "rule id"),
    ({"validator": "luhn"}, "SCR-P200-001.validator", "not one of"),
    ({"decoded_must_match": ["x"]}, "SCR-P200-001.decoded_must_match", "only valid"),
    ({"requires_masked_field": "unit_price"}, "SCR-P200-001.requires_masked_field", "table.column"),
    ({"patterns": []}, "SCR-P200-001.patterns", "non-empty"),
])
def test_bad_rules_name_the_rule_and_key(over, key, message):
    with pytest.raises(PolicyError) as err:
        ScreeningRules.from_config({"screening": {"rules": [_rule(**over)]}}, "enterprise.yaml")
    assert err.value.file == "enterprise.yaml"
    assert err.value.key == key
    assert message in err.value.message


def test_config_shapes_and_plant_extension(rules):
    as_list = ScreeningRules.from_config([_rule()])
    as_section = ScreeningRules.from_config({"rules": [_rule()]})
    assert as_list.rules == as_section.rules
    plant = rules.extended([_rule()], source="plant-P200.yaml")
    assert len(plant) == len(rules) + 1
    assert screen_input("activen el codigo rojo", rules).findings == ()
    assert screen_input("activen el código rojo", plant).families == {"plant_rule"}
    with pytest.raises(PolicyError, match="duplicate rule id"):
        plant.extended([_rule()])
    with pytest.raises(PolicyError, match="duplicate rule id"):
        rules.extended([{**_rule(), "id": "SCR-IN-001"}])


def test_from_layers_lets_lower_layers_only_add():
    top = {"rules": [_rule(id="SCR-IN-900")]}
    plant = {"rules": [_rule()]}
    merged = ScreeningRules.from_layers([("enterprise.yaml", top), ("plants/P200.yaml", plant)])
    assert [r.id for r in merged] == ["SCR-IN-900", "SCR-P200-001"]
    with pytest.raises(PolicyError) as err:
        ScreeningRules.from_layers([("enterprise.yaml", top), ("plants/P200.yaml", top)])
    assert (err.value.file, err.value.key) == ("plants/P200.yaml", "SCR-IN-900")
    with pytest.raises(PolicyError) as err:
        ScreeningRules.from_layers([("enterprise.yaml", top), ("plants/P100.yaml", {"rules": [_rule(stage="x")]})])
    assert (err.value.file, err.value.key) == ("plants/P100.yaml", "SCR-P200-001.stage")


def test_bad_arguments_are_typed_errors(rules):
    with pytest.raises(ScreeningInputError):
        screen_input(b"bytes", rules)  # type: ignore[arg-type]
    with pytest.raises(ScreeningInputError):
        screen_input("text", {"rules": []})  # type: ignore[arg-type]
    with pytest.raises(ScreeningInputError):
        screen_output("text", rules, masked_fields=["po_lines.unit_price"])  # type: ignore[arg-type]


# ---------------------------------------------------------------- prefilter and linear time


def test_literal_prefilter_never_skips_a_matching_pattern(rules, labelled):
    """Soundness: whenever a pattern matches, the prefilter must have enabled it."""
    texts = [i["text"] for i in labelled] + ["$12.40 and DE89 3704 0044 0532 0130 00", "bea@x.example"]
    for stage in ("input", "data", "output"):
        plan = rules.plan(stage)
        for text in texts:
            view = normalize(text).text
            active = plan.index.candidates(view.lower())
            for rule, offset in zip(plan.rules, plan.offsets, strict=True):
                for key, pattern in enumerate(rule.patterns, start=offset):
                    if pattern.search(view):
                        assert key in active, (rule.id, key - offset, text)


def test_necessary_factors():
    assert necessary_factors(re.compile(r"\b(?:ignore|disregard)\s+all")) == {"ignore", "disregard"}
    assert necessary_factors(re.compile(r"[A-Za-z0-9+/]{16,}")) is None
    assert necessary_factors(re.compile(r"(?:ab)?cd")) is None  # too short to be worth it


ADVERSARIAL = {
    "digits": "1" * 100_000,
    "commas": "1," * 50_000,
    "base64_run": "QUJD" * 25_000 + "===",
    "hex_odd": "a" * 100_001,
    "open_tags": "<INFORMATION>" * 7_700,
    "unclosed_begin": "BEGIN INSTRUCTIONS " * 5_000,
    "pre_approved": "this is pre-approved " * 2_000,
    "whitespace": " \n\t " * 25_000,
    "zero_width": "i\u200bg" * 33_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_long_adversarial_inputs_finish(rules, name):
    """Each of these took minutes with a quadratic pattern; with linear patterns they take well under a second."""
    text = ADVERSARIAL[name]
    masked = frozenset({"po_lines.unit_price", "suppliers.bank_account", "items.standard_cost"})
    assert isinstance(screen_input(text, rules).verdict, str)
    assert isinstance(screen_data(text, rules).text, str)
    assert isinstance(screen_output(text, rules, masked_fields=masked).text, str)
