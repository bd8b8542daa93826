"""``jidoka knowledge ingest`` and ``jidoka knowledge search`` from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.knowledge.test_ingest import P100_DOC
from tests.server.cli.cli_helpers import run_cli

_run = run_cli


def test_search_as_a_user_json(private_home: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["knowledge", "search", "--as", "pat.planner", "what does the hold procedure say?",
                         "--json"], private_home, monkeypatch, capsys)
    assert code == 0
    data = json.loads(out)
    assert data["hits"][0]["doc_id"] == "QP-004" and data["hits"][0]["citation"].startswith("QP-004 §")
    assert data["rule_id"].endswith("roles.planner.domains")


def test_search_table_and_refusals(private_home: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["knowledge", "search", "--as", "max.maint", "AS-019"], private_home, monkeypatch, capsys)
    assert code == 0 and "MP-101 §1" in out
    code, _, err = _run(["knowledge", "search", "--as", "ada.auditor", "hold"], private_home, monkeypatch, capsys)
    assert code == 1 and "denied" in err
    code, _, err = _run(["knowledge", "search", "--as", "nobody", "hold"], private_home, monkeypatch, capsys)
    assert code == 1 and "nobody" in err


def test_ingest_a_folder_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "QP-100.md").write_text(P100_DOC, encoding="utf-8")
    home = tmp_path / "home"
    code, out, _ = _run(["knowledge", "ingest", str(docs), "--as", "quinn.quality", "--json"], home, monkeypatch,
                        capsys)
    assert code == 0 and json.loads(out)["added"] == ["QP-100"] and json.loads(out)["chunks_embedded"] == 3
    code, out, _ = _run(["knowledge", "ingest", str(docs), "--as", "quinn.quality"], home, monkeypatch, capsys)
    assert code == 0 and "0 added, 0 updated, 1 unchanged, 0 removed, 0 pending approval, 0 refused; 0 chunks " \
                         "embedded" in out
    assert (home / "knowledge").is_dir()


def test_ingest_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("no front matter", encoding="utf-8")
    quinn = ["--as", "quinn.quality"]
    code, _, err = _run(["knowledge", "ingest", str(bad), *quinn], tmp_path / "home", monkeypatch, capsys)
    assert code == 1 and "missing YAML front matter" in err and "Traceback" not in err
    code, _, err = _run(["knowledge", "ingest", str(tmp_path / "none"), *quinn], tmp_path / "home", monkeypatch,
                        capsys)
    assert code == 1 and "no such file" in err
    code, _, err = _run(["knowledge", "ingest", str(bad), *quinn], tmp_path / "home", monkeypatch, capsys,
                        JIDOKA_EMBEDDINGS="nonsense")
    assert code == 1 and "JIDOKA_EMBEDDINGS" in err
