"""Policy layering: tightening accepted, every kind of loosening rejected with file, key and reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from guardrails.errors import PolicyError, PolicyLoosening, UnknownUser
from guardrails.policy.loader import catalog_policy, default_policy_dir, load_policy
from tools import default_catalog


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    return target


def _write(path: Path, doc: dict[str, object]) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_default_policy_loads_with_every_demo_identity() -> None:
    policy = load_policy()
    expected = {"pat.planner", "paz.planner", "bea.buyer", "quinn.quality", "sam.supervisor", "max.maint",
                "fay.finance", "eve.exec", "ada.auditor", "ian.admin", "qiu.quality", "sol.supervisor"}
    assert expected <= set(policy.users)
    assert policy.user("pat.planner").sites == frozenset({"P100"})
    assert policy.user("eve.exec").sites is None
    assert policy.sites == frozenset({"P100", "P200"})
    assert len(policy.hash) == 64


def test_hash_is_stable_and_changes_with_any_file(policy_dir: Path) -> None:
    first = load_policy(policy_dir).hash
    assert load_policy(policy_dir).hash == first
    plant = policy_dir / "plants" / "P100.yaml"
    plant.write_text(plant.read_text() + "\n# a comment changes the version too\n")
    assert load_policy(policy_dir).hash != first


def test_unknown_user_is_a_clear_error() -> None:
    with pytest.raises(UnknownUser, match="mallory"):
        load_policy().user("mallory")


def test_domain_layer_tightening_is_applied(policy_dir: Path) -> None:
    _write(policy_dir / "domains" / "quality.yaml", {
        "layer": "domain", "domain": "quality", "covers": ["quality"],
        "roles": {"production_supervisor": {"domains": ["production", "inventory", "maintenance"]}},
        "sensitive_fields": {"items.standard_cost": {"visible_to": ["finance"]}},
    })
    policy = load_policy(policy_dir)
    supervisor = policy.roles["production_supervisor"]
    # The quality layer may drop only the quality domain it covers.
    assert supervisor.domains == frozenset({"production", "inventory", "maintenance", "sales", "knowledge"})
    assert policy.fields["items.standard_cost"].visible_to == frozenset({"finance"})


def test_plant_layer_tightens_only_its_site(policy_dir: Path) -> None:
    _write(policy_dir / "plants" / "P200.yaml", {
        "layer": "plant", "site": "P200",
        "roles": {"buyer": {"deny_tools": ["open_po_lines"]}},
        "sensitive_fields": {"po_lines.unit_price": {"visible_to": ["finance"], "aggregate_only": ["executive"]}},
    })
    policy = load_policy(policy_dir)
    assert "open_po_lines" in policy.roles_at("P200")["buyer"].deny_tools
    assert "open_po_lines" not in policy.roles_at("P100")["buyer"].deny_tools
    assert policy.fields_at("P200")["po_lines.unit_price"].visible_to == frozenset({"finance"})
    assert "buyer" in policy.fields_at("P100")["po_lines.unit_price"].visible_to
    rule = policy.roles_at("P200")["buyer"].rule_for("open_po_lines", "procurement")
    assert rule == "plants/P200.yaml#roles.buyer.deny_tools"


LOOSENINGS = [
    ("domains/procurement.yaml",
     {"layer": "domain", "domain": "procurement", "covers": ["procurement"],
      "roles": {"planner": {"tools": ["quality_events", "supplier_scorecard"]}}},
     "roles.planner.tools", "would grant tool 'supplier_scorecard'"),
    ("domains/finance.yaml",
     {"layer": "domain", "domain": "finance", "covers": ["finance"],
      "roles": {"auditor": {"domains": ["finance"]}}},
     "roles.auditor.domains", "would grant domain 'finance'"),
    ("plants/P100.yaml",
     {"layer": "plant", "site": "P100", "roles": {"admin": {"permissions": ["policy.read", "plant.write"]}}},
     "roles.admin.permissions", "would grant permission 'plant.write'"),
    ("plants/P100.yaml",
     {"layer": "plant", "site": "P100",
      "sensitive_fields": {"suppliers.bank_account": {"visible_to": ["finance", "buyer"]}}},
     "sensitive_fields.suppliers.bank_account.visible_to", "visible to 'buyer'"),
    ("domains/procurement.yaml",
     {"layer": "domain", "domain": "procurement", "covers": ["procurement"],
      "sensitive_fields": {"po_lines.unit_price": {"visible_to": ["buyer", "finance"],
                                                   "aggregate_only": ["planner"]}}},
     "sensitive_fields.po_lines.unit_price.aggregate_only", "let 'planner' aggregate"),
    ("plants/P200.yaml",
     {"layer": "plant", "site": "P200", "roles": {"contractor": {"deny_tools": []}}},
     "roles.contractor", "would add a role"),
]


@pytest.mark.parametrize(("file", "doc", "key", "message"), LOOSENINGS)
def test_loosening_is_rejected_naming_file_key_and_effect(
    policy_dir: Path, file: str, doc: dict[str, object], key: str, message: str
) -> None:
    _write(policy_dir / file, doc)
    with pytest.raises(PolicyLoosening) as info:
        load_policy(policy_dir)
    assert info.value.file == file
    assert info.value.key == key
    assert message in info.value.message


@pytest.mark.parametrize(("file", "doc", "key", "message"), [
    ("plants/P100.yaml", {"layer": "plant", "site": "P100", "users": {"x": {"roles": ["admin"]}}},
     "users", "defined only in enterprise.yaml"),
    ("plants/P100.yaml", {"layer": "plant", "site": "P200"}, "site", "must match the site"),
    ("domains/quality.yaml", {"layer": "plant", "site": "P100"}, "layer", "expected 'domain'"),
    ("domains/quality.yaml", {"layer": "domain", "domain": "quality", "colour": "red"}, "colour", "unknown key"),
    ("enterprise.yaml", {"version": 1, "roles": {"planner": {"domains": "inventory"}}},
     "roles.planner.domains", "must be a list"),
])
def test_malformed_layers_are_rejected(policy_dir: Path, file: str, doc: dict[str, object], key: str,
                                       message: str) -> None:
    _write(policy_dir / file, doc)
    with pytest.raises(PolicyError) as info:
        load_policy(policy_dir)
    assert info.value.key == key
    assert message in info.value.message


def test_user_with_unknown_role_or_site_is_rejected(policy_dir: Path) -> None:
    enterprise = policy_dir / "enterprise.yaml"
    doc = yaml.safe_load(enterprise.read_text())
    doc["users"]["pat.planner"]["sites"] = ["P300"]
    _write(enterprise, doc)
    with pytest.raises(PolicyError, match="unknown site 'P300'"):
        load_policy(policy_dir)
    doc["users"]["pat.planner"] = {"roles": ["wizard"], "sites": ["P100"]}
    _write(enterprise, doc)
    with pytest.raises(PolicyError, match="unknown role 'wizard'"):
        load_policy(policy_dir)


def test_bad_yaml_and_missing_enterprise_are_clear(policy_dir: Path, tmp_path: Path) -> None:
    (policy_dir / "plants" / "P100.yaml").write_text("layer: plant\nsite: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML") as info:
        load_policy(policy_dir)
    assert info.value.file == "plants/P100.yaml"
    with pytest.raises(PolicyError, match=r"enterprise\.yaml not found"):
        load_policy(tmp_path / "nowhere")


def test_known_tools_catch_typos(policy_dir: Path) -> None:
    with pytest.raises(PolicyError, match=r"roles\.planner\.tools: unknown tool 'assets_at_risk'"):
        load_policy(policy_dir, known_tools={"inventory_lookup": "inventory"})


def test_fields_no_tool_can_mask_are_rejected(policy_dir: Path) -> None:
    _write(policy_dir / "plants" / "P100.yaml", {
        "layer": "plant", "site": "P100",
        "sensitive_fields": {"work_orders.qty_planned": {"visible_to": ["executive"]}},
    })
    with pytest.raises(PolicyError, match="no tool can mask this field") as info:
        catalog_policy(policy_dir, default_catalog())
    assert (info.value.file, info.value.key) == ("plants/P100.yaml", "sensitive_fields.work_orders.qty_planned")


def test_shipped_policy_passes_the_catalog_checks() -> None:
    policy = catalog_policy(None, default_catalog())
    assert policy.hash == load_policy().hash


def test_lower_layers_may_add_screening_rules_but_not_redefine_them(policy_dir: Path) -> None:
    rule = {"id": "SCR-P200-001", "family": "plant_specific", "stage": "input", "action": "refuse",
            "description": "P200 forbids asking for the PLC passwords.", "patterns": [r"\bplc\s+passwords?\b"]}
    _write(policy_dir / "plants" / "P200.yaml", {"layer": "plant", "site": "P200", "screening": {"rules": [rule]}})
    policy = load_policy(policy_dir)
    assert "SCR-P200-001" in {r.id for r in policy.screening.rules}
    assert len(policy.screening.rules) == len(load_policy().screening.rules) + 1
    existing = load_policy().screening.rules[0].id
    _write(policy_dir / "plants" / "P200.yaml", {"layer": "plant", "site": "P200",
                                                 "screening": {"rules": [{**rule, "id": existing}]}})
    with pytest.raises(PolicyError, match="duplicate rule id"):
        load_policy(policy_dir)


def test_actions_count_as_known_tools(policy_dir: Path) -> None:
    # A role may be granted a governed action by name; a typo in one is still caught.
    policy = catalog_policy(policy_dir, default_catalog())
    assert "place_quality_hold" in policy.roles["planner"].tools
    text = (policy_dir / "enterprise.yaml").read_text()
    (policy_dir / "enterprise.yaml").write_text(text.replace(
        "assets_at_risk, place_quality_hold,", "assets_at_risk, place_quality_hld,", 1))
    with pytest.raises(PolicyError, match=r"roles\.planner\.tools: unknown tool 'place_quality_hld'"):
        catalog_policy(policy_dir, default_catalog())


def test_policy_check_fails_when_a_proposer_is_not_granted_the_action(policy_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from server.cli import build_app

    env = {"JIDOKA_HOME": str(tmp_path / "home")}
    ok = CliRunner().invoke(build_app(), ["policy", "check", str(policy_dir)], env=env)
    assert ok.exit_code == 0 and "policy ok" in ok.stdout
    text = (policy_dir / "enterprise.yaml").read_text()
    assert text.count("proposers: [buyer]\n") == 1
    (policy_dir / "enterprise.yaml").write_text(text.replace("proposers: [buyer]\n",
                                                             "proposers: [buyer, quality_engineer]\n"))
    bad = CliRunner().invoke(build_app(), ["policy", "check", str(policy_dir)], env=env)
    assert bad.exit_code == 1
    assert "enterprise.yaml: actions.switch_supplier.proposers: role 'quality_engineer' is a proposer of " \
           "switch_supplier but is not granted it" in " ".join(bad.stderr.split())
