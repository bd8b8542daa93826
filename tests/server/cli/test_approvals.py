"""``jidoka approvals list|show|approve|reject`` through a small Typer app that mounts the sub-app."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from guardrails.approvals.models import ApprovalRequest, RequestStatus
from guardrails.approvals.routing import ApprovalRouter, RoutingSubject
from guardrails.approvals.store import ApprovalStore
from guardrails.audit.log import AuditKind, AuditLog
from guardrails.policy.loader import load_policy
from server.cli import approvals as cli_approvals
from server.cli.approvals import make_approvals_app
from server.cli.audit import audit_app
from server.settings import Settings
from tests.policy_helpers import shipped_policy
from tools.plant.db import make_engine

POLICY = shipped_policy()
ROUTER = ApprovalRouter(POLICY)


def make_app(settings: Settings, app: typer.Typer | None = None) -> typer.Typer:
    root = typer.Typer(pretty_exceptions_enable=False)

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = settings

    root.add_typer(app or make_approvals_app(), name="approvals")
    return root


_cached_load = functools.lru_cache(maxsize=4)(load_policy)


@pytest.fixture(autouse=True)
def _policy_loaded_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI loads the policy on every command; reuse the real loader's result per folder (speed)."""
    monkeypatch.setattr(cli_approvals, "load_policy", _cached_load)
    yield


@pytest.fixture
def cli_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})


def seed(settings: Settings, *, requester: str = "pat.planner", hours_ago: float = 0.0,
         action: str = "place_quality_hold", value_usd: float = 0) -> str:
    """One pending request created ``hours_ago`` (real clock: the CLI decides 'now')."""
    created = datetime.now(UTC) - timedelta(hours=hours_ago)
    engine = make_engine(settings.state_url)
    try:
        store = ApprovalStore(engine)
        store.create_schema()
        subject = RoutingSubject("P100", value_usd=value_usd)
        route = ROUTER.route(action, POLICY.user(requester), subject, now=created)
        return store.create(thread_id="th-9", trace_id="tr-9", requester=requester, action=action,
                            args={"lot_id": "LOT-P100-0423"}, subject=subject, route=route, now=created).id
    finally:
        engine.dispose()


def run(settings: Settings, *args: str, app: typer.Typer | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_app(settings, app), ["approvals", *args])
    # Exit codes come back as SystemExit; any other exception is a crash the CLI should have handled.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_list_show_approve_flow(cli_settings: Settings) -> None:
    rid = seed(cli_settings)
    code, out, _ = run(cli_settings, "list", "--as", "sam.supervisor")
    assert code == 0 and rid in out and "place_quality_hold" in out
    code, out, _ = run(cli_settings, "list", "--as", "bea.buyer")
    assert code == 0 and rid not in out and "none" in out
    code, out, _ = run(cli_settings, "list", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [rid]
    code, out, _ = run(cli_settings, "show", rid)
    assert code == 0 and "pending" in out and "quinn.quality, sam.supervisor" in out
    decided: list[ApprovalRequest] = []
    app = make_approvals_app(on_decided=decided.append)
    code, out, _ = run(cli_settings, "approve", rid, "--as", "sam.supervisor", "--comment", "contain it",
                       app=app)
    assert code == 0 and "now approved" in out
    assert [r.status for r in decided] == [RequestStatus.APPROVED] and decided[0].id == rid
    code, out, _ = run(cli_settings, "show", rid, "--json")
    shown = json.loads(out)
    assert shown["status"] == "approved" and shown["decisions"][0]["comment"] == "contain it"
    engine = make_engine(cli_settings.state_url)
    try:
        (event,) = AuditLog(engine).by_trace("tr-9")
    finally:
        engine.dispose()
    assert event.kind == AuditKind.APPROVAL_DECIDED.value and event.user_id == "sam.supervisor"
    assert event.payload["request_id"] == rid and event.payload["status"] == "approved"
    assert event.policy_hash == POLICY.hash


def test_partial_approval_reports_what_is_still_needed(cli_settings: Settings) -> None:
    rid = seed(cli_settings, action="reallocate_inventory", value_usd=20000)
    code, out, _ = run(cli_settings, "approve", rid, "--as", "fay.finance")
    assert code == 0 and "1/2 groups approved" in out and "production_supervisor at P100" in out
    code, out, _ = run(cli_settings, "list", "--as", "fay.finance")
    assert rid not in out
    code, out, _ = run(cli_settings, "reject", rid, "--as", "sam.supervisor", "--comment", "needed here")
    assert code == 0 and "now rejected" in out


@pytest.mark.parametrize(("who", "message"), [
    ("bea.buyer", "bea.buyer may not decide"),
    ("pat.planner", "the requester can never approve"),
    ("mallory", "unknown user 'mallory'"),
])
def test_refusals_exit_1_with_one_line(cli_settings: Settings, who: str, message: str) -> None:
    rid = seed(cli_settings)
    code, out, err = run(cli_settings, "approve", rid, "--as", who)
    assert code == 1 and message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_decided_expired_and_unknown_requests_exit_1(cli_settings: Settings) -> None:
    rid = seed(cli_settings)
    assert run(cli_settings, "approve", rid, "--as", "quinn.quality")[0] == 0
    code, _, err = run(cli_settings, "reject", rid, "--as", "sam.supervisor")
    assert code == 1 and "already approved" in err
    old = seed(cli_settings, hours_ago=25)
    code, _, err = run(cli_settings, "approve", old, "--as", "sam.supervisor")
    assert code == 1 and "expired" in err
    code, out, _ = run(cli_settings, "show", old, "--json")
    assert json.loads(out)["status"] == "expired"
    code, _, err = run(cli_settings, "show", "APR-000000000000")
    assert code == 1 and "no approval request 'APR-000000000000'" in err


def test_missing_state_database_is_reported_not_created(cli_settings: Settings) -> None:
    code, _, err = run(cli_settings, "list")
    assert code == 1 and "no state database" in err
    assert not Path(cli_settings.state_url.removeprefix("sqlite:///")).exists()


def test_broken_policy_is_a_clear_error(tmp_path: Path) -> None:
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    (policy_dir / "enterprise.yaml").write_text("roles: [not, a, mapping]\n")
    env = {"JIDOKA_HOME": str(tmp_path / "home"), "JIDOKA_POLICY_DIR": str(policy_dir)}
    settings = Settings.from_env(env)
    code, _, err = run(settings, "list")
    assert code == 1 and "the policy cannot be loaded" in err and "enterprise.yaml: roles" in err


# -- issue 16, finding 5: refused decisions leave a trace, as over the API -----------------------------------------

def _audit_show(settings: Settings, trace_id: str) -> list[dict[str, Any]]:
    """``jidoka audit show --trace ID --json``."""
    root = typer.Typer(pretty_exceptions_enable=False)

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = settings

    root.add_typer(audit_app, name="audit")
    result = CliRunner().invoke(root, ["audit", "show", "--trace", trace_id, "--json"])
    assert result.exit_code == 0, result.stderr
    shown: list[dict[str, Any]] = json.loads(result.stdout)
    return shown


def _refused(settings: Settings, *args: str) -> dict[str, Any]:
    """Run a refused command; the one audit event its one-line error names."""
    code, _, err = run(settings, *args)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    found = re.search(r"\(audited: jidoka audit show --trace ([0-9a-f]{32})\)$", err.strip())
    assert found, err
    (event,) = _audit_show(settings, found.group(1))
    assert event["kind"] == "error" and event["policy_hash"] == POLICY.hash
    return event


def test_refused_decisions_are_audited_with_the_trace_they_name(cli_settings: Settings) -> None:
    rid = seed(cli_settings)
    for who, code in (("bea.buyer", "not_eligible"), ("pat.planner", "separation_of_duties"),
                      ("mallory", "unknown_user")):
        event = _refused(cli_settings, "approve", rid, "--as", who, "--comment", "mine")
        assert (event["user_id"], event["thread_id"]) == (who, "th-9")
        assert event["payload"]["error"] == code and event["payload"]["request_id"] == rid
        assert event["payload"]["decision"] == "approve" and event["payload"]["reason"]
    assert run(cli_settings, "approve", rid, "--as", "quinn.quality")[0] == 0
    event = _refused(cli_settings, "reject", rid, "--as", "sam.supervisor")
    assert event["payload"] == {"error": "already_decided", "request_id": rid, "decision": "reject",
                                "request_status": "approved",
                                "reason": f"{rid} is already approved; it can no longer be decided"}
    old = seed(cli_settings, hours_ago=25)
    event = _refused(cli_settings, "approve", old, "--as", "sam.supervisor")
    assert (event["user_id"], event["payload"]["error"]) == ("sam.supervisor", "request_expired")
    event = _refused(cli_settings, "approve", "APR-000000000000", "--as", "quinn.quality")
    assert (event["thread_id"], event["payload"]["error"]) == (None, "request_not_found")
