"""``jidoka audit verify|show|export|anchor|keygen|public-key`` via a small Typer app that mounts ``audit_app`` like
the main CLI (and through the real ``jidoka`` command where the environment matters)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from guardrails.audit._store import audit_events, audit_head
from guardrails.audit.anchor import generate_signing_key, parse_signing_key, parse_verify_key, public_key_text
from guardrails.audit.log import AuditEvent, AuditKind, AuditLog, AuditRecord
from guardrails.errors import AuditError
from server.cli import build_app
from server.cli.audit import audit_app
from server.runtime import audit_anchor
from server.settings import Settings, SettingsError
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

    # Each export is audited after its last line (seq 6 records the first one; it was not in it).
    code, out, _ = run(cli_settings, "export", "--since", "2026-03-02T06:00:03+00:00")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["seq"] for r in lines] == [4, 5, 6]
    assert lines[-1]["kind"] == "audit_read" and lines[-1]["user_id"].startswith("cli:")
    assert lines[-1]["payload"] == {"read": "export", "via": "cli", "since": None, "count": 5, "last_seq": 5,
                                    "to_file": False}

    target = tmp_path / "audit.jsonl"
    code, out, err = run(cli_settings, "export", "--since", "2026-03-02T06:00:02", "--output", str(target))
    assert code == 0 and out == ""
    assert "exported 5 events" in err
    assert [json.loads(line)["seq"] for line in target.read_text(encoding="utf-8").splitlines()] == [3, 4, 5, 6, 7]


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


# -- the anchor: signed checkpoints outside the database (issue 16, finding 6) ----------------------------------

SIGNING_KEY = generate_signing_key()


def truncate(url: str, keep: int) -> None:
    """Delete every event after ``keep`` and move the head row back to it, as an attacker with the database would."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq > keep))
        last = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == keep)).scalar_one()
        conn.execute(update(audit_head).values(last_seq=keep, last_hash=last))
    engine.dispose()


def test_jidoka_audit_verify_detects_truncation_with_a_rewritten_head(cli_settings: Settings, state_db: str) -> None:
    """Done-when of the finding, through the real ``jidoka`` command and its environment."""
    env = {"JIDOKA_HOME": str(cli_settings.home), "JIDOKA_AUDIT_SIGNING_KEY": SIGNING_KEY}
    settings = Settings.from_env(env)
    runner = CliRunner()
    result = runner.invoke(build_app(), ["audit", "anchor"], env=env)
    assert result.exit_code == 0 and "checkpoint of seq 5" in result.stdout
    assert SIGNING_KEY not in result.stdout + result.stderr
    engine = make_engine(state_db)  # three more events through an anchored log; the checkpoint at shutdown
    log = AuditLog(engine, anchor=audit_anchor(settings))
    log.append_many([AuditEvent("tr-c", None, "bea.buyer", AuditKind.PROMPT, {"n": n}, "p") for n in range(3)])
    log.close()
    engine.dispose()
    assert runner.invoke(build_app(), ["audit", "verify"], env=env).exit_code == 0

    truncate(state_db, keep=6)
    assert run(cli_settings, "verify")[0] == 0  # without the key: passes, and says why it cannot tell
    result = runner.invoke(build_app(), ["audit", "verify"], env=env)
    assert result.exit_code == 1
    assert "broken at seq 6" in result.stdout and "chain ends before a signed checkpoint (truncated)" in result.stdout
    assert "vouches for seq 8" in result.stdout and "the last checkpoint that still matches is seq 5" in result.stdout
    report = json.loads(runner.invoke(build_app(), ["audit", "verify", "--json"], env=env).stdout)
    assert report["problem"] == "chain ends before a signed checkpoint (truncated)"
    assert report["first_bad_seq"] == 6 and report["anchor"]["last_matched_seq"] == 5
    assert report["anchor"]["files"] == [str(cli_settings.home / "audit-anchors.jsonl")]


def test_verify_without_a_key_says_no_anchor_is_configured(cli_settings: Settings, state_db: str) -> None:
    code, out, _ = run(cli_settings, "verify")
    assert code == 0 and "no anchor configured" in out
    report = json.loads(run(cli_settings, "verify", "--json")[1])
    assert report["anchor"]["configured"] is False
    code, _, err = run(cli_settings, "anchor")
    assert code == 1 and "no signing key" in err


def test_verify_reads_another_hosts_anchor_file(cli_settings: Settings, state_db: str, tmp_path: Path) -> None:
    public = public_key_text(parse_signing_key(SIGNING_KEY).public_key())
    host_b = Settings.from_env({"JIDOKA_HOME": str(cli_settings.home), "JIDOKA_AUDIT_SIGNING_KEY": SIGNING_KEY,
                                "JIDOKA_AUDIT_ANCHOR": str(tmp_path / "host-b.jsonl")})
    auditor = Settings.from_env({"JIDOKA_HOME": str(cli_settings.home), "JIDOKA_AUDIT_VERIFY_KEY": public})
    assert run(host_b, "anchor")[0] == 0
    truncate(state_db, keep=3)
    code, out, _ = run(auditor, "verify")
    assert code == 0 and "no anchor file" in out  # the auditor's own (default) file was never written
    code, out, _ = run(auditor, "verify", "--anchor", str(tmp_path / "host-b.jsonl"))
    assert code == 1 and "vouches for seq 5" in out
    code, _, err = run(auditor, "verify", "--anchor", str(tmp_path / "nowhere.jsonl"))
    assert code == 1 and "no anchor file at" in err


def test_keygen_prints_a_new_key_and_its_public_key(cli_settings: Settings) -> None:
    code, out, err = run(cli_settings, "keygen")
    assert code == 0
    key = parse_signing_key(out.strip())
    public = public_key_text(key.public_key())
    assert f"public key (JIDOKA_AUDIT_VERIFY_KEY for auditors): {public}" in err and out.strip() not in err
    settings = Settings.from_env({"JIDOKA_HOME": str(cli_settings.home), "JIDOKA_AUDIT_SIGNING_KEY": out.strip()})
    code, shown, _ = run(settings, "public-key")
    assert code == 0 and parse_verify_key(shown.strip()) is not None and shown.strip() == public


def test_anchor_settings(tmp_path: Path) -> None:
    home = {"JIDOKA_HOME": str(tmp_path)}
    plain = Settings.from_env(home)
    assert plain.audit_anchor is None and audit_anchor(plain) is None
    signing = Settings.from_env({**home, "JIDOKA_AUDIT_SIGNING_KEY": SIGNING_KEY, "JIDOKA_AUDIT_ANCHOR_EVERY": "7"})
    assert signing.audit_anchor == tmp_path.resolve() / "audit-anchors.jsonl" and signing.audit_anchor_every == 7
    assert SIGNING_KEY not in repr(signing)
    pem = parse_signing_key(SIGNING_KEY).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    assert Settings.from_env({**home, "JIDOKA_AUDIT_SIGNING_KEY": pem}).audit_signing_key == pem.strip()
    bad = SIGNING_KEY[:-4] + "AAA="
    for env, message in (
        ({"JIDOKA_AUDIT_SIGNING_KEY": "bm90IGEga2V5"}, "JIDOKA_AUDIT_SIGNING_KEY: base64 of 32 bytes expected"),
        ({"JIDOKA_AUDIT_SIGNING_KEY": "!!not base64!!"}, "not an Ed25519 private key"),
        ({"JIDOKA_AUDIT_VERIFY_KEY": bad[:20]}, "JIDOKA_AUDIT_VERIFY_KEY"),
        ({"JIDOKA_AUDIT_ANCHOR": str(tmp_path / "a.jsonl")}, "needs JIDOKA_AUDIT_SIGNING_KEY"),
        ({"JIDOKA_AUDIT_SIGNING_KEY": SIGNING_KEY, "JIDOKA_AUDIT_ANCHOR_SECONDS": "0"}, "between 0 and 86400"),
    ):
        with pytest.raises(SettingsError, match=message) as caught:
            Settings.from_env({**home, **env})
        assert "bm90IGEga2V5" not in str(caught.value) and "!!not" not in str(caught.value)


# -- issue 16, finding 5: reads of the log leave a trace -------------------------------------------------------------

def _newest(url: str, n: int = 1) -> list[AuditRecord]:
    engine = make_engine(url)
    try:
        return AuditLog(engine).tail(n)
    finally:
        engine.dispose()


def test_show_and_verify_are_audited_after_the_read(cli_settings: Settings, state_db: str) -> None:
    code, out, _ = run(cli_settings, "show", "--trace", "tr-a", "--json")
    assert code == 0 and [r["seq"] for r in json.loads(out)] == [1, 2, 3]
    (read,) = _newest(state_db)
    assert (read.seq, read.kind, read.thread_id, read.policy_hash) == (6, "audit_read", None, "")
    assert read.user_id.startswith("cli:") and read.trace_id not in ("tr-a", "tr-b")
    assert read.payload == {"read": "trace", "via": "cli", "trace_id": "tr-a", "count": 3, "first_seq": 1,
                            "last_seq": 3}
    assert [r["seq"] for r in json.loads(run(cli_settings, "show", "--trace", "tr-a", "--json")[1])] == [1, 2, 3]
    assert run(cli_settings, "show", "--trace", "nope")[0] == 1  # a read that found nothing is a read too
    assert _newest(state_db)[0].payload == {"read": "trace", "via": "cli", "trace_id": "nope", "count": 0,
                                            "first_seq": None, "last_seq": None}

    code, out, _ = run(cli_settings, "verify", "--json")
    assert code == 0 and json.loads(out)["checked"] == 8  # not its own event: it is appended after the walk
    (read,) = _newest(state_db)
    assert read.seq == 9 and read.payload == {"read": "verify", "via": "cli", "ok": True, "checked": 8,
                                              "head_seq": 8}
    # The record of the read is found like any trace.
    code, out, _ = run(cli_settings, "show", "--trace", read.trace_id, "--json")
    assert code == 0 and [r["seq"] for r in json.loads(out)] == [9]


def test_a_broken_chain_gets_no_read_event_and_a_failed_record_is_a_note(cli_settings: Settings, state_db: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tamper_payload(state_db, 3)
    assert run(cli_settings, "verify")[0] == 1
    assert _newest(state_db)[0].seq == 5  # nothing built on the damaged chain

    def read_only(self: AuditLog, event: AuditEvent) -> AuditRecord:
        raise AuditError("attempt to write a readonly database")

    monkeypatch.setattr(AuditLog, "append", read_only)
    code, out, err = run(cli_settings, "show", "--trace", "tr-b")
    assert code == 0 and "trace tr-b" in out
    assert "this read was not recorded in the audit log: attempt to write a readonly database" in err


def test_verify_thorough_walks_the_same_chain(cli_settings: Settings, state_db: str) -> None:
    fast = json.loads(run(cli_settings, "verify", "--json")[1])
    code, out, _ = run(cli_settings, "verify", "--thorough", "--json")
    thorough = json.loads(out)
    assert code == 0 and thorough["ok"] is True
    assert thorough["checked"] == fast["checked"] + 1  # the first verify's own audit_read event
