"""``min_group`` of a sensitive field: policy data, raised by lower layers but never lowered, carried to the scope.

The tools withhold an aggregate over an aggregate-only field when fewer rows than ``min_group`` feed it
(tests/tools/supply/test_aggregate_min_group.py); here, where the number comes from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.gate import data_scope
from guardrails.policy.loader import default_policy_dir, load_policy

PRICE = "po_lines.unit_price"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    return target


def _plant(policy_dir: Path, site: str, fields: dict[str, object]) -> None:
    (policy_dir / "plants" / f"{site}.yaml").write_text(yaml.safe_dump(
        {"layer": "plant", "site": site, "sensitive_fields": fields}, sort_keys=False))


def test_the_shipped_policy_sets_min_group_3_on_the_aggregate_only_prices() -> None:
    policy = load_policy()
    for name in (PRICE, "supplier_prices.unit_price"):
        assert policy.fields[name].min_group == 3 and "executive" in policy.fields[name].aggregate_only
    eve = policy.user("eve.exec")
    scope = data_scope(policy, eve, policy.user_sites(eve))
    assert PRICE in scope.aggregate_only_fields and scope.group_floor(PRICE) == 3
    assert scope.describe()["min_group"] == {PRICE: 3, "supplier_prices.unit_price": 3}
    fay = policy.user("fay.finance")
    assert data_scope(policy, fay, policy.user_sites(fay)).group_floor(PRICE) == 0  # sees rows: no floor
    assert policy.describe()["sensitive_fields"][PRICE]["min_group"] == 3


def test_a_plant_may_raise_min_group_and_the_strictest_site_applies(policy_dir: Path) -> None:
    _plant(policy_dir, "P200", {PRICE: {"visible_to": ["buyer", "finance"], "aggregate_only": ["executive"],
                                        "min_group": 5}})
    policy = load_policy(policy_dir)
    assert policy.fields_at("P200")[PRICE].min_group == 5
    assert policy.fields_at("P100")[PRICE].min_group == 3
    eve = policy.user("eve.exec")
    # An aggregate may mix both sites' lines, so eve's scope over both takes the stricter floor.
    assert data_scope(policy, eve, frozenset({"P100", "P200"})).group_floor(PRICE) == 5
    assert data_scope(policy, eve, frozenset({"P100"})).group_floor(PRICE) == 3


def test_a_lower_layer_that_restates_a_field_without_min_group_keeps_the_one_above(policy_dir: Path) -> None:
    _plant(policy_dir, "P100", {PRICE: {"visible_to": ["finance"], "aggregate_only": ["executive", "buyer"]}})
    policy = load_policy(policy_dir)
    assert policy.fields_at("P100")[PRICE].min_group == 3
    assert policy.fields_at("P100")[PRICE].aggregate_only == frozenset({"executive", "buyer"})


def test_a_lower_layer_may_not_lower_min_group(policy_dir: Path) -> None:
    _plant(policy_dir, "P100", {PRICE: {"visible_to": ["buyer", "finance"], "aggregate_only": ["executive"],
                                        "min_group": 2}})
    with pytest.raises(PolicyLoosening) as info:
        load_policy(policy_dir)
    assert (info.value.file, info.value.key) == ("plants/P100.yaml", f"sensitive_fields.{PRICE}.min_group")
    assert "would lower the minimum group" in info.value.message and "from 3 to 2" in info.value.message


@pytest.mark.parametrize("value", [1, 0, -3, "3", 2.5, True])
def test_min_group_must_be_a_whole_number_of_at_least_2(policy_dir: Path, value: object) -> None:
    _plant(policy_dir, "P100", {PRICE: {"visible_to": ["buyer", "finance"], "aggregate_only": ["executive"],
                                        "min_group": value}})
    with pytest.raises(PolicyError) as info:
        load_policy(policy_dir)
    assert info.value.key == f"sensitive_fields.{PRICE}.min_group"
    assert "at least 2" in info.value.message
