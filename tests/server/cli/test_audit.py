"""``jidoka audit verify|show|export`` via a small Typer app that mounts ``audit_app`` like the main CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import update
from typer.testing import CliRunner

from guardrails.audit._store import audit_events
from guardrails.audit.log import AuditEvent, AuditKind, AuditLog
from server.cli.audit import audit_app
from server.settings import Settings
from tools.plant.db import make_engine

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def make_app(settings: Settings) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = settings

    app.add_typer(audit_app, name="audit")
    return app


@pytest.fixture
def cli_settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})


@pytest.fixture
def state_db(cli_settings: Settings) -> Iterator[str]:
    """A state database with 5 events: trace tr-a (3) at 06:00:00-02, trace tr-b (2) at 06:00:03-04."""
    ticks = iter(T0 + timedelta(seconds=s) for s in range(100))
    engine = make_engine(cli_settings.state_url)
    log = AuditLog(engine, clock=lambda: next(ticks))
    log.create_schema()
    ana = ("tr-a", "th-1", "ana.planner")
    log.append(AuditEvent(*ana, AuditKind.PROMPT, {"text": "Why is PK1 scrapping? ✓"}, "p"))
    log.append(AuditEvent(*ana, AuditKind.TOOL_RESULT, {"tool": "scrap_rate"}, "p"))
    log.append(AuditEvent(*ana, AuditKind.ANSWER, {"text": "Lot LOT-P100-0423"}, "p"))
    log.append(AuditEvent("tr-b", None, "bea.buyer", AuditKind.PROMPT, {"text": "open POs"}, "p"))
    log.append(AuditEvent("tr-b", None, "bea.buyer", AuditKind.ANSWER, {"text": "3 open"}, "p"))
    engine.dispose()
    yield cli_settings.state_url


def tamper_payload(url: str, seq: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        stmt = update(audit_events).where(audit_events.c.seq == seq)
        conn.execute(stmt.values(payload='{"text":"nothing"}'))
    engine.dispose()


def run(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_app(settings), ["audit", *args])
    # Exit codes come back as SystemExit; any other exception is a crash the CLI should have handled.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_verify_intact_exits_0(cli_settings: Settings, state_db: str) -> None:
    code, out, _ = run(cli_settings, "verify")
    assert code == 0
    assert "intact" in out and "5 events" in out


def test_verify_tampered_exits_1_naming_seq_and_reason(cli_settings: Settings, state_db: str) -> None:
    tamper_payload(state_db, 3)
    code, out, _ = run(cli_settings, "verify")
    assert code == 1
    assert "broken at seq 3" in out and "hash mismatch (edited)" in out

    code, out, _ = run(cli_settings, "verify", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["first_bad_seq"] == 3 and report["checked"] == 2
    assert report["problem"] == "hash mismatch (edited)"
    assert report["head"]["seq"] == 5


def test_verify_json_when_intact(cli_settings: Settings, state_db: str) -> None:
    code, out, _ = run(cli_settings, "verify", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["checked"] == 5 and report["first_bad_seq"] is None


def test_show_trace_as_table_and_json(cli_settings: Settings, state_db: str) -> None:
    code, out, _ = run(cli_settings, "show", "--trace", "tr-a")
    assert code == 0
    assert "trace tr-a" in out
    for kind in ("prompt", "tool_result", "answer"):
        assert kind in out
    assert "bea.buyer" not in out

    code, out, _ = run(cli_settings, "show", "--trace", "tr-b", "--json")
    assert code == 0
    records = json.loads(out)
    assert [r["seq"] for r in records] == [4, 5]
    assert records[0]["thread_id"] is None and records[1]["payload"] == {"text": "3 open"}


def test_show_unknown_trace_says_so(cli_settings: Settings, state_db: str) -> None:
    code, _, err = run(cli_settings, "show", "--trace", "nope")
    assert code == 1
    assert "no audit events for trace 'nope'" in err


def test_export_jsonl_to_stdout_and_file(cli_settings: Settings, state_db: str, tmp_path: Path) -> None:
    code, out, _ = run(cli_settings, "export", "--format", "jsonl")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["payload"] == {"text": "Why is PK1 scrapping? ✓"}
    assert lines[0]["prev_hash"] == "0" * 64 and lines[1]["prev_hash"] == lines[0]["hash"]

    code, out, _ = run(cli_settings, "export", "--since", "2026-03-02T06:00:03+00:00")
    assert code == 0
    assert [json.loads(line)["seq"] for line in out.splitlines()] == [4, 5]

    target = tmp_path / "audit.jsonl"
    code, out, err = run(cli_settings, "export", "--since", "2026-03-02T06:00:02", "--output", str(target))
    assert code == 0 and out == ""
    assert "exported 3 events" in err
    assert [json.loads(line)["seq"] for line in target.read_text(encoding="utf-8").splitlines()] == [3, 4, 5]


def test_export_bad_since_is_a_usage_error(cli_settings: Settings, state_db: str) -> None:
    code, out, err = run(cli_settings, "export", "--since", "yesterday")
    assert code == 2
    assert "--since" in err and "yesterday" in err
    assert out == ""


def test_export_unknown_format_is_a_usage_error(cli_settings: Settings, state_db: str) -> None:
    code, _, err = run(cli_settings, "export", "--format", "csv")
    assert code == 2 and "--format" in err


def test_missing_state_db_is_reported_without_creating_it(cli_settings: Settings) -> None:
    for args in (["verify"], ["show", "--trace", "x"], ["export"]):
        code, out, err = run(cli_settings, *args)
        assert code == 1, args
        assert "no state database" in err and "Traceback" not in err + out
    assert not cli_settings.home.exists()


def test_state_db_without_audit_table_is_reported(cli_settings: Settings) -> None:
    engine = make_engine(cli_settings.state_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE approvals (id INTEGER PRIMARY KEY)")
    engine.dispose()
    code, out, err = run(cli_settings, "verify")
    assert code == 1
    assert "no audit log" in err and "Traceback" not in err + out
