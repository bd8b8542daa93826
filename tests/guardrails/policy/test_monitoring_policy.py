"""The ``monitoring:`` policy section: detectors, owners and proposals from the enterprise layer; lower layers only
tighten (lower a threshold, raise a look-ahead, drop a risk class); mistakes name file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy.loader import default_policy_dir, load_policy
from guardrails.policy.monitoring import MonitoringRules
from tests.policy_helpers import shipped_policy
from tools.monitoring import DEFAULT_PARAMS, DETECTOR_KINDS
from tools.spec import RiskClass


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    return target


def _append(path: Path, section: dict[str, object]) -> None:
    path.write_text(path.read_text() + "\n" + yaml.safe_dump({"monitoring": section}))


def test_the_shipped_section_enables_every_detector_with_its_defaults() -> None:
    rules = MonitoringRules.from_policy(shipped_policy())
    assert sorted(rules.detectors) == sorted(DETECTOR_KINDS)
    for site in ("P100", "P200"):
        for rule in rules.at(site):
            assert dict(rule.params) == {k: float(v) for k, v in DEFAULT_PARAMS[rule.kind].items()}
    scrap = rules.rule("scrap_spike", "P100")
    assert scrap is not None and scrap.owner == "quality_engineer"
    assert scrap.propose == ("place_quality_hold", "open_supplier_review")
    assert scrap.roles() == ("quality_engineer", "production_supervisor")
    assert rules.may_propose(RiskClass.APPROVAL, "P100") and rules.interval_minutes == 15


def test_a_plant_lowers_a_threshold_for_its_site_only(policy_dir: Path) -> None:
    _append(policy_dir / "plants" / "P200.yaml", {
        "detectors": {"scrap_spike": {"params": {"variance_limit": 0.03}},
                      "stock_below_zero": {"params": {"horizon_days": 21}}},
        "risk_classes": ["advisory", "approval"], "watch_runs": 2})
    rules = MonitoringRules.from_policy(load_policy(policy_dir))
    p200, p100 = rules.rule("scrap_spike", "P200"), rules.rule("scrap_spike", "P100")
    assert p200 is not None and p100 is not None
    assert p200.params["variance_limit"] == 0.03 and p100.params["variance_limit"] == 0.05
    stock = rules.rule("stock_below_zero", "P200")
    assert stock is not None and stock.params["horizon_days"] == 21
    assert not rules.may_propose(RiskClass.AUTONOMOUS, "P200") and rules.may_propose(RiskClass.AUTONOMOUS, "P100")
    assert rules.watch("P200") == 2 and rules.watch("P100") == 3


@pytest.mark.parametrize(("section", "key"), [
    ({"detectors": {"scrap_spike": {"params": {"variance_limit": 0.2}}}}, "params.variance_limit"),
    ({"detectors": {"stock_below_zero": {"params": {"horizon_days": 7}}}}, "params.horizon_days"),
    ({"risk_classes": ["advisory", "approval", "autonomous", "read"]}, "risk_classes"),
    ({"watch_runs": 5}, "watch_runs"),
])
def test_a_lower_layer_may_not_loosen(policy_dir: Path, section: dict[str, object], key: str) -> None:
    _append(policy_dir / "plants" / "P100.yaml", section)
    with pytest.raises(PolicyError) as error:
        MonitoringRules.from_policy(load_policy(policy_dir))
    assert key in error.value.key and error.value.file.endswith("P100.yaml")
    if key != "risk_classes":
        assert isinstance(error.value, PolicyLoosening)


@pytest.mark.parametrize(("section", "key"), [
    ({"detectors": {"scrap_spike": {"owner": "quality_engineer"}}}, "monitoring.detectors.scrap_spike"),
    ({"detectors": {"scrap_spike": {"params": {"sigma": 3}}}}, "monitoring.detectors.scrap_spike.params.sigma"),
    ({"detectors": {"vibration": {}}}, "monitoring.detectors.vibration"),
])
def test_mistakes_in_a_lower_layer_name_the_key(policy_dir: Path, section: dict[str, object], key: str) -> None:
    _append(policy_dir / "plants" / "P100.yaml", section)
    with pytest.raises(PolicyError) as error:
        MonitoringRules.from_policy(load_policy(policy_dir))
    assert error.value.key.startswith(key)


@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["detectors"]["scrap_spike"].update(owner="shift_lead"), "monitoring.detectors.scrap_spike.owner"),
    (lambda d: d["detectors"]["scrap_spike"].update(propose=["ship_it"]), "monitoring.detectors.scrap_spike.propose"),
    (lambda d: d["detectors"]["asset_risk"].update(escalate_to=["ceo"]), "monitoring.detectors.asset_risk.escalate_to"),
    (lambda d: d.update(interval_minutes=0), "monitoring.interval_minutes"),
    (lambda d: d["detectors"]["asset_risk"]["params"].update(failure_probability=-1),
     "monitoring.detectors.asset_risk.params.failure_probability"),
])
def test_mistakes_in_the_enterprise_section_name_the_key(policy_dir: Path, change: object, key: str) -> None:
    path = policy_dir / "enterprise.yaml"
    data = yaml.safe_load(path.read_text())
    change(data["monitoring"])  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PolicyError) as error:
        MonitoringRules.from_policy(load_policy(policy_dir))
    assert error.value.key == key


def test_a_disabled_detector_does_not_run(policy_dir: Path) -> None:
    path = policy_dir / "enterprise.yaml"
    data = yaml.safe_load(path.read_text())
    data["monitoring"]["detectors"]["stock_below_zero"]["enabled"] = False
    path.write_text(yaml.safe_dump(data))
    rules = MonitoringRules.from_policy(load_policy(policy_dir))
    assert "stock_below_zero" not in rules.detectors and rules.rule("stock_below_zero", "P100") is None
