"""Issue 16, finding 7(d): readers of the audit trail see sensitive values only as the policy allows.

Auditors and administrators hold no plant-data grants, so a price inside an audit payload — an answer's text, a
tool result quoted in a model message, an approval's value — is shown to them as ``***`` unless the policy's
``audit:`` section grants the field. Only the view is masked: the stored chain is untouched and verifies.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from guardrails.audit.chain import AuditEvent, AuditKind
from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy.loader import default_policy_dir, load_policy
from server.api.deps import Services
from server.app import create_app
from server.cli import build_app
from tests.server.api.conftest import api_settings, auth

PRICE_TEXT = "PO-24017/2 CP-2037 from S-001: 1,200 open of 2,000, 12.47 USD/unit; PO price 12.47 vs list 11.90 USD"


def _services(client: TestClient) -> Services:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert isinstance(services, Services)
    return services


def _planted(client: TestClient) -> str:
    """A buyer's answer with unit prices and an approval carrying a value, appended to the app's audit log."""
    trace = f"tr-{uuid.uuid4().hex[:12]}"
    audit = _services(client).runtime.audit
    audit.append(AuditEvent(trace, "th-m", "bea.buyer", AuditKind.ANSWER, {"text": PRICE_TEXT}, "p"))
    audit.append(AuditEvent(trace, "th-m", "bea.buyer", AuditKind.MODEL_REQUEST,
                            {"last": json.dumps({"rows": [{"line_id": "PO-24017/2", "unit_price": 12.47,
                                                           "qty_open": 1200}]})}, "p"))
    audit.append(AuditEvent(trace, "th-m", "pat.planner", AuditKind.APPROVAL_REQUESTED,
                            {"request_id": "APR-1", "subject": {"site_id": "P100", "value_usd": 14964.0}}, "p"))
    return trace


def _policy_granting(tmp_path: Path, fields: list[str]) -> Path:
    """A copy of the shipped policy whose audit section lets auditors read ``fields`` in the trail."""
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    enterprise = target / "enterprise.yaml"
    text = enterprise.read_text(encoding="utf-8")
    granted = text.replace("    auditor: []\n", f"    auditor: [{', '.join(fields)}]\n", 1)
    assert granted != text
    enterprise.write_text(granted, encoding="utf-8")
    return target


def test_an_auditor_reads_prices_masked(client: TestClient) -> None:
    trace = _planted(client)
    response = client.get("/v1/audit", params={"trace_id": trace}, headers=auth("ada.auditor"))
    assert response.status_code == 200, response.text
    body = response.json()
    answer, request, approval = body["records"]
    assert answer["payload"]["text"] == ("PO-24017/2 CP-2037 from S-001: 1,200 open of 2,000, *** USD/unit; "
                                         "PO price *** vs list *** USD")
    assert "po_lines.unit_price" in answer["masked_fields"]
    assert json.loads(request["payload"]["last"])["rows"][0] == {"line_id": "PO-24017/2", "unit_price": "***",
                                                                 "qty_open": 1200}
    assert approval["payload"]["subject"] == {"site_id": "P100", "value_usd": "***"}
    assert approval["masked_fields"] == ["items.standard_cost"]
    assert "12.47" not in response.text and "14964" not in response.text
    assert body["masked_fields"] == sorted(body["masked_fields"]) and "items.standard_cost" in body["masked_fields"]
    assert "ada.auditor may not see" in body["masking"] and body["reader"] == "ada.auditor"
    # Only the view: the stored events keep the values and the chain verifies.
    stored = _services(client).runtime.audit.by_trace(trace)
    assert stored[0].payload["text"] == PRICE_TEXT and stored[2].payload["subject"]["value_usd"] == 14964.0
    assert client.get("/v1/audit/verify", headers=auth("ian.admin")).json()["ok"] is True


def test_a_policy_grant_shows_them(home: Path, tmp_path: Path) -> None:
    # An amount in prose cannot be told apart by field, nor can a key several fields share (unit_price): the trail
    # reads in clear once every such field is granted — the three unit prices and the standard cost.
    fields = ["po_lines.unit_price", "supplier_prices.unit_price", "sales_orders.unit_price", "items.standard_cost"]
    with TestClient(create_app(api_settings(home, JIDOKA_POLICY_DIR=str(_policy_granting(tmp_path, fields))))) \
            as granted:
        trace = _planted(granted)
        body = granted.get("/v1/audit", params={"trace_id": trace}, headers=auth("ada.auditor")).json()
        answer, request, approval = body["records"]
        assert answer["payload"]["text"] == PRICE_TEXT and "masked_fields" not in answer
        assert json.loads(request["payload"]["last"])["rows"][0]["unit_price"] == 12.47
        assert approval["payload"]["subject"]["value_usd"] == 14964.0
        assert body["masked_fields"] == [] and body["masking"] is None
        # The grant is the auditor's: the admin still reads them masked.
        admin = granted.get("/v1/audit", params={"trace_id": trace}, headers=auth("ian.admin")).json()
        assert "12.47" not in json.dumps(admin) and admin["records"][0]["masked_fields"]


def test_a_real_buyer_turn_reads_without_prices(client: TestClient) -> None:
    turn = client.post("/v1/chat", json={"message": "show me the open purchase orders at P100"},
                       headers={**auth("bea.buyer"), "Accept": "application/json"})
    assert turn.status_code == 200, turn.text
    trace = turn.json()["trace_id"]
    prices = re.findall(r"([\d,]+(?:\.\d+)?) (?:USD|MXN)/unit", turn.json()["answer"])
    assert prices, turn.json()["answer"]  # the buyer sees unit prices
    shown = client.get("/v1/audit", params={"trace_id": trace}, headers=auth("ada.auditor")).json()
    answer = next(r for r in shown["records"] if r["kind"] == "answer")
    assert all(f"{p} USD/unit" not in answer["payload"]["text"] for p in prices)
    assert "*** USD/unit" in answer["payload"]["text"] and "po_lines.unit_price" in answer["masked_fields"]
    assert not re.search(r'"unit_price": ?\d', json.dumps(shown["records"]))


def test_lower_layers_may_only_tighten_the_audit_section(tmp_path: Path) -> None:
    policy = _policy_granting(tmp_path, ["po_lines.unit_price"])
    plant = policy / "plants" / "P200.yaml"
    original = plant.read_text(encoding="utf-8")
    plant.write_text(original + "audit:\n  visible_fields:\n    auditor: []\n", encoding="utf-8")
    assert load_policy(policy).audit.granted({"auditor"}) == frozenset()  # a plant may drop a grant
    plant.write_text(original + "audit:\n  visible_fields:\n    admin: [po_lines.unit_price]\n", encoding="utf-8")
    with pytest.raises(PolicyLoosening, match=r"audit\.visible_fields\.admin"):
        load_policy(policy)
    plant.write_text(original + "audit:\n  visible_fields:\n    auditor: [suppliers.nothing]\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not a sensitive field"):
        load_policy(policy)
    section = yaml.safe_load((default_policy_dir() / "enterprise.yaml").read_text(encoding="utf-8"))["audit"]
    assert section["visible_fields"] == {"auditor": [], "admin": []}  # shipped: no prices for the trail's readers


def test_the_cli_masks_show_and_export_unless_asked(client: TestClient, home: Path) -> None:
    trace = _planted(client)
    env = {"JIDOKA_HOME": str(home), "COLUMNS": "300"}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(build_app(), ["audit", *args], env=env)
        return result.exit_code, result.stdout, result.stderr

    code, out, err = run("show", "--trace", trace, "--json")
    assert code == 0, err
    assert "12.47" not in out and "14964" not in out and "masked for a reader with no role" in err
    code, out, err = run("show", "--trace", trace, "--as", "ada.auditor")
    assert code == 0, err
    assert "12.47" not in out and "masked for ada.auditor" in " ".join(out.split())
    code, out, err = run("show", "--trace", trace, "--as", "ada.auditor", "--json")
    assert code == 0 and "*** USD/unit" in json.loads(out)[0]["payload"]["text"]
    code, _, err = run("show", "--trace", trace, "--as", "bea.buyer")
    assert code == 1 and "lacks the permission 'audit.read'" in err
    code, out, _ = run("show", "--trace", trace, "--unmasked", "--json")
    assert code == 0 and json.loads(out)[0]["payload"]["text"] == PRICE_TEXT
    code, out, err = run("export", "--as", "ada.auditor")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and "12.47" not in out and any(line.get("masked_fields") for line in lines)
    code, out, _ = run("export", "--unmasked")
    assert code == 0 and PRICE_TEXT in out
    assert not any("masked_fields" in json.loads(line) for line in out.splitlines())
