"""Repeated requests for one action on one subject (issue 16, finding 2): found within the policy's window,
shown to approvers (API and CLI) as possible probing, never mixed with other subjects, requesters or actions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guardrails.approvals.routing import ApprovalRouter, RoutingSubject
from guardrails.approvals.similar import probing_note, similar_requests, similar_window, subject_key
from guardrails.approvals.store import ApprovalStore
from guardrails.errors import PolicyError, PolicyLoosening
from server.cli import approvals as cli_approvals
from server.cli.approvals import make_approvals_app
from server.settings import Settings
from tests.guardrails.approvals.routing_helpers import NOW, POLICY, ROUTER, policy_with
from tests.server.cli.test_approvals import make_app
from tools.plant.db import make_engine


def _ask(store: ApprovalStore, qty: float, *, requester: str = "pat.planner", item: str = "CP-2020",
         site: str = "P100", to_site: str = "P200", at: datetime = NOW) -> Any:
    """A reallocation of ``qty`` of ``item`` (US$0.0238 each) by ``requester``, created at ``at``."""
    subject = RoutingSubject(site, value_usd=qty * 0.0238, to_site=to_site,
                             facts={"item_id": item, "qty": qty, "record_ids": [item, f"LOT-{qty:g}"]})
    route = ROUTER.route("reallocate_inventory", POLICY.user(requester), subject, now=at)
    return store.create(thread_id=f"th-{qty}-{item}-{requester}", trace_id=f"tr-{at.isoformat()}",
                        requester=requester, action="reallocate_inventory", args={"item_id": item, "qty": qty},
                        subject=subject, route=route, now=at)


@pytest.fixture
def store(tmp_path: Path) -> ApprovalStore:
    created = ApprovalStore(make_engine(f"sqlite:///{tmp_path / 'state.db'}"))
    created.create_schema()
    return created


def test_only_the_same_requester_action_and_subject_within_the_window_count(store: ApprovalStore) -> None:
    probe = [_ask(store, q, at=NOW + timedelta(minutes=i)) for i, q in enumerate((400_000, 420_000, 420_400))]
    # Not like them: another item, another requester, another destination, a week and a day later.
    _ask(store, 420_000, item="CP-2021")
    _ask(store, 420_000, requester="bea.buyer")
    _ask(store, 420_000, to_site="P300")
    late = _ask(store, 450_000, at=NOW + timedelta(days=8))
    week = similar_window(ROUTER, probe[0])
    assert week == timedelta(hours=168)
    assert [s.id for s in similar_requests(store, probe[1], within=week)] == [probe[0].id, probe[2].id]
    assert [s.args["qty"] for s in similar_requests(store, probe[0], within=week)] == [420_000, 420_400]
    assert similar_requests(store, late, within=week) == ()
    assert [s.id for s in similar_requests(store, late, within=timedelta(days=9))] == [r.id for r in probe]
    note = probing_note(probe[0], similar_requests(store, probe[0], within=week), week)
    assert note is not None and note.startswith("Possible probing: pat.planner made 3 requests for "
                                                "reallocate_inventory of CP-2020 within 168 h")
    assert probe[1].id in note and probe[2].id in note
    assert probing_note(late, (), week) is None


def test_the_subject_is_the_item_and_sites_not_the_lots_a_quantity_takes() -> None:
    base = {"site_id": "P100", "to_site": "P200", "facts": {"item_id": "CP-2020", "record_ids": ["CP-2020", "L1"]}}
    more = {**base, "facts": {"item_id": "CP-2020", "record_ids": ["CP-2020", "L1", "L2"]}}
    assert subject_key(base) == subject_key(more) == ("P100", "P200", "CP-2020")
    assert subject_key({"site_id": "P100", "facts": {"record_ids": ["LOT-1", "WO-9"]}}) == ("P100", None, "LOT-1")


def test_the_window_is_policy_and_lower_layers_may_only_lengthen_it() -> None:
    router = ApprovalRouter(policy_with({"plants/P200.yaml": {"reallocate_inventory": {"similar_within_hours": 720}}}))
    assert router.rule("reallocate_inventory", "P200").similar_within_hours == 720  # type: ignore[union-attr]
    assert router.rule("reallocate_inventory", "P100").similar_within_hours == 168  # type: ignore[union-attr]
    with pytest.raises(PolicyLoosening, match=r"would shorten the window .* from 168 h to 24 h"):
        ApprovalRouter(policy_with({"plants/P100.yaml": {"reallocate_inventory": {"similar_within_hours": 24}}}))
    with pytest.raises(PolicyError, match="similar_within_hours"):
        ApprovalRouter(policy_with({"plants/P100.yaml": {"reallocate_inventory": {"similar_within_hours": 0}}}))


def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(make_app(settings, make_approvals_app(audit=False)), ["approvals", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout


def test_cli_shows_the_requester_the_notice_and_the_approvers_the_repeated_requests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_approvals, "load_policy", lambda _: POLICY)  # the shipped policy, loaded once
    settings = Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})
    engine = make_engine(settings.state_url)
    try:
        store = ApprovalStore(engine)
        store.create_schema()
        now = datetime.now(UTC)  # the CLI reads on the wall clock
        ids = [_ask(store, q, at=now + timedelta(seconds=i)).id
               for i, q in enumerate((400_000, 420_000, 420_400, 450_000))]
    finally:
        engine.dispose()
    shown = [json.loads(_cli(settings, "show", rid, "--as", "pat.planner", "--json")[1]) for rid in ids]
    assert {json.dumps([g for g in s["groups"]], sort_keys=True) for s in shown} == {json.dumps([
        {"roles": ["production_supervisor"], "site": "P100", "eligible_user_ids": ["sam.supervisor"],
         "rule_id": "enterprise.yaml#actions.reallocate_inventory.approvers[0]"},
        {"roles": ["finance"], "site": "P100", "eligible_user_ids": ["fay.finance"],
         "rule_id": "enterprise.yaml#actions.reallocate_inventory.when[0].approvers[0]",
         "condition": "only if the value is over $10,000"}], sort_keys=True)}
    assert all(s["route_notice"] and "similar_requests" not in s for s in shown)
    code, out = _cli(settings, "show", ids[3], "--as", "sam.supervisor")
    assert code == 0 and "Possible probing: pat.planner made 4 requests" in out
    assert all(rid in out for rid in ids[:3]) and '"qty": 420400' in out
    code, out = _cli(settings, "list", "--as", "sam.supervisor")
    assert code == 0 and out.count("possible probing: 3 similar requests by pat.planner") == 4
    listed = json.loads(_cli(settings, "list", "--as", "fay.finance", "--json")[1])
    assert sorted(r["id"] for r in listed) == sorted(ids[2:])  # finance gets only the two above $10,000
    assert all(len(r["similar_requests"]) == 3 and r["probing_note"] for r in listed)
