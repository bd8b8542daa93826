"""``jidoka audit kek|purge`` and verify's redacted ranges, through the CLI on a sealed home."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.server.cli.cli_helpers import run_cli


@pytest.fixture
def sealed_home(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> Path:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    code, out, _ = run_cli(["audit", "kek"], home, monkeypatch, capsys)
    assert code == 0 and "wrote a new key-encryption key" in out
    return home


def test_kek_is_private_and_kept(sealed_home: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = sealed_home / "audit.kek"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    code, out, _ = run_cli(["audit", "kek"], sealed_home, monkeypatch, capsys)
    assert code == 0 and "kept the existing" in out and path.read_text() == before


def test_a_sealed_turn_then_a_purge_and_a_verify_that_names_the_redacted_ranges(
        sealed_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    question = "stock of RM-3001 at P100"
    assert run_cli(["ask", "--as", "pat.planner", question], sealed_home, monkeypatch, capsys)[0] == 0
    with sqlite3.connect(sealed_home / "state.db") as db:
        stored = [json.loads(p) for (p,) in db.execute("SELECT payload FROM audit_events WHERE kind = 'prompt'")]
    assert stored[0]["text"]["sealed"] == "aes-256-gcm" and question not in json.dumps(stored)
    code, out, _ = run_cli(["audit", "export"], sealed_home, monkeypatch, capsys)
    prompts = [json.loads(line) for line in out.splitlines() if '"kind":"prompt"' in line]
    assert code == 0 and prompts[0]["payload"]["text"] == question  # opened on read

    code, out, _ = run_cli(["audit", "purge", "--today", "2099-01-01", "--dry-run"], sealed_home, monkeypatch, capsys)
    assert code == 0 and "would destroy 4 data keys" in out  # prompt, answer, model request and response
    code, out, _ = run_cli(["audit", "purge", "--today", "2099-01-01", "--json"], sealed_home, monkeypatch, capsys)
    report = json.loads(out)
    assert code == 0 and {k["kind"] for k in report["destroyed"]} == {"prompt", "answer", "model_request",
                                                                       "model_response"}
    assert all(k["site"] == "P100" and k["rule_file"] == "enterprise.yaml" for k in report["destroyed"])

    code, out, _ = run_cli(["audit", "verify"], sealed_home, monkeypatch, capsys)
    assert code == 0 and "audit chain intact" in out and out.count("redacted by retention: seq") == 4
    code, out, _ = run_cli(["audit", "verify", "--json"], sealed_home, monkeypatch, capsys)
    assert code == 0 and len(json.loads(out)["redacted"]) == 4
    code, out, _ = run_cli(["audit", "export"], sealed_home, monkeypatch, capsys)
    prompts = [json.loads(line) for line in out.splitlines() if '"kind":"prompt"' in line]
    assert prompts[0]["payload"]["text"].startswith("[purged by retention: data key ")
    assert question not in out
    code, out, _ = run_cli(["audit", "purge", "--today", "2099-01-01"], sealed_home, monkeypatch, capsys)
    assert code == 0 and "destroyed 0 data keys" in out  # nothing left to destroy, nothing recorded


def test_a_bad_date_changes_nothing(sealed_home: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["audit", "purge", "--before", "last year"], sealed_home, monkeypatch, capsys)
    assert code == 1 and "--before must be a date like 2026-01-31" in err and "Traceback" not in err
