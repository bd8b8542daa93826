"""What a viewer sees of an approval request: sensitive values masked by the viewer's scope, in one place."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardrails.approvals.models import DecisionKind
from guardrails.approvals.routing import ApprovalRouter, RoutingSubject
from guardrails.approvals.store import ApprovalStore
from guardrails.approvals.views import VALUE_FIELD, view_for
from server.cli.approvals import make_approvals_app
from server.settings import Settings
from tests.policy_helpers import shipped_policy
from tests.server.cli.test_approvals import make_app
from tools.plant.db import make_engine

POLICY = shipped_policy()
ROUTER = ApprovalRouter(POLICY)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
VALUE = 12345.67


def _store(tmp_path: Path) -> ApprovalStore:
    store = ApprovalStore(make_engine(f"sqlite:///{tmp_path / 'state.db'}"), clock=lambda: NOW)
    store.create_schema()
    return store


def _reallocation(store: ApprovalStore, requester: str = "pat.planner", now: datetime = NOW) -> Any:
    subject = RoutingSubject("P100", value_usd=VALUE, to_site="P200", facts={"qty": 500})
    route = ROUTER.route("reallocate_inventory", POLICY.user(requester), subject, now=now)
    return store.create(thread_id="th", trace_id="tr", requester=requester, action="reallocate_inventory",
                        args={"item_id": "RM-1", "qty": 500}, subject=subject, route=route, now=now)


@pytest.mark.parametrize(("viewer", "sees_value"), [
    ("pat.planner", False),      # the requester: planners may not see standard costs
    ("sam.supervisor", False),   # an approver whose role may not see them either
    ("fay.finance", True), ("bea.buyer", True), ("eve.exec", True),
    (None, False),               # no particular viewer: nothing sensitive
])
def test_value_is_shown_only_to_viewers_who_may_see_standard_costs(tmp_path: Path, viewer: str | None,
                                                                   sees_value: bool) -> None:
    request = _reallocation(_store(tmp_path))
    assert request.subject["value_usd"] == VALUE  # stored unmasked: routing needs it
    view = view_for(request, POLICY.user(viewer) if viewer else None, POLICY)
    shown = json.dumps(view.to_json_dict())
    assert view.request.subject["value_usd"] == (VALUE if sees_value else None)
    assert ("12345.67" in shown) is sees_value and "12,345" not in shown
    assert view.masked_fields == (() if sees_value else (VALUE_FIELD,))
    assert view.to_json_dict()["viewer"] == viewer
    # Everything else is the request as stored — but the requester, who may not see the value, is shown every
    # group the action may need rather than the groups the value added.
    assert (view.request.id, dict(view.request.args)) == (request.id, dict(request.args))
    if viewer == "pat.planner":
        assert view.noticed and [g.describe() for g in view.request.groups] == [
            "production_supervisor at P100", "finance at P100 only if the value is over $10,000"]
    else:
        assert not view.noticed and view.request.groups == request.groups


def test_routing_reasons_no_longer_carry_the_value_and_old_ones_are_masked(tmp_path: Path) -> None:
    store = _store(tmp_path)
    request = _reallocation(store, "bea.buyer")
    assert "value over $10,000" in request.reason and "12,345" not in request.reason
    old = request.__class__(**{**request.__dict__, "reason": request.reason.replace(
        "(value over $10,000)", "(value $12,345.67 is over $10,000)")})
    assert "(value over $10,000)" in view_for(old, POLICY.user("sam.supervisor"), POLICY).request.reason
    assert "$12,345.67" in view_for(old, POLICY.user("fay.finance"), POLICY).request.reason


def test_changed_columns_are_masked_per_viewer(tmp_path: Path) -> None:
    # A supplier switch executed for bea.buyer: its result carries the new PO line's unit price.
    store = _store(tmp_path)
    subject = RoutingSubject("P100", value_usd=800)
    route = ROUTER.route("switch_supplier", POLICY.user("bea.buyer"), subject, now=NOW)
    request = store.create(thread_id="th", trace_id="tr", requester="bea.buyer", action="switch_supplier",
                           args={"po_id": "PO-1", "line_no": 1}, subject=subject, route=route, now=NOW)
    for approver in ("ben.buyer", "fay.finance"):
        store.decide(request.id, POLICY.user(approver), DecisionKind.APPROVE, now=NOW)
    line = {"table": "po_lines", "record_id": "PO-9/1", "before": None,
            "after": {"po_id": "PO-9", "line_no": 1, "qty_ordered": 100.0, "unit_price": 3.25}}
    store.mark_executed(request.id, {"status": "executed", "changed": [line]}, now=NOW)
    executed = store.get(request.id, now=NOW)
    buyer = view_for(executed, POLICY.user("ben.buyer"), POLICY)
    assert buyer.request.result is not None and buyer.request.result["changed"][0]["after"]["unit_price"] == 3.25
    quality = view_for(executed, POLICY.user("quinn.quality"), POLICY)
    assert quality.request.result is not None
    [masked] = quality.request.result["changed"]
    assert "unit_price" not in masked["after"] and masked["after"]["qty_ordered"] == 100.0
    assert masked["masked_fields"] == ["unit_price"]
    assert quality.masked_fields == (VALUE_FIELD, "po_lines.unit_price")
    assert "3.25" not in json.dumps(quality.to_json_dict())
    assert executed.result is not None and executed.result["changed"][0]["after"]["unit_price"] == 3.25  # stored


def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_app(settings, make_approvals_app(audit=False)), ["approvals", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_show_and_list_mask_by_the_viewer(tmp_path: Path) -> None:
    settings = Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})
    engine = make_engine(settings.state_url)
    try:
        store = ApprovalStore(engine)
        store.create_schema()
        rid = _reallocation(store, now=datetime.now(UTC)).id  # the CLI decides on the wall clock
    finally:
        engine.dispose()
    code, out, _ = _cli(settings, "show", rid, "--as", "sam.supervisor")
    assert code == 0 and "12345" not in out and "hidden for sam.supervisor: items.standard_cost" in out
    code, out, _ = _cli(settings, "show", rid, "--as", "fay.finance")
    assert code == 0 and "12345.67" in out and "hidden for" not in out
    code, out, _ = _cli(settings, "show", rid, "--json")
    assert code == 0 and json.loads(out)["subject"]["value_usd"] is None
    code, out, _ = _cli(settings, "list", "--json")
    assert code == 0 and [r["subject"]["value_usd"] for r in json.loads(out)] == [None]
    code, out, _ = _cli(settings, "list", "--as", "fay.finance", "--json")
    assert code == 0 and [r["subject"]["value_usd"] for r in json.loads(out)] == [VALUE]
    code, out, err = _cli(settings, "show", rid, "--as", "mallory")
    assert code == 1 and "unknown user 'mallory'" in err
