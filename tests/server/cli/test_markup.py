"""Issue 16, finding 7(a): data printed in the terminal is printed as it is, never read as rich markup.

Document text, plant free text, questions, model answers, approval reasons and comments and audit payloads may
hold ``[/INST]`` (which rich reads as a closing tag and crashes on), ``[link=…]`` (a hidden hyperlink) or
``[bold red]`` (styling): every such value is escaped before it reaches a rich console.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel
from rich.console import Console

from guardrails.audit.log import AuditEvent, AuditKind, AuditLog
from server.cli.render import render_model
from server.settings import Settings
from tests.server.cli.cli_helpers import run_cli
from tests.server.cli.test_approvals import run as run_approvals
from tests.server.cli.test_approvals import seed
from tests.server.cli.test_audit import make_app as audit_cli
from tools.plant.db import make_engine

INST, LINK, RED = "[/INST]", "[link=http://evil]click[/link]", "[bold red]x[/]"
MARKUP = f"before {INST} then {LINK} and {RED} after"

DOC = f"""---
id: QP-777
title: "Markup check {RED}"
sites: [P100]
domains: [production]
roles: ["*"]
revision: A
effective: 2026-01-01
---

# QP-777 Markup check

## 1. Gasket markup {INST}
Gasket markup step: {MARKUP}.
"""


def _literal(text: str, pieces: tuple[str, ...] = (INST, LINK, RED)) -> None:
    flat = " ".join(text.split())
    for piece in pieces:
        assert piece in flat, f"{piece!r} not printed literally in:\n{text}"


def _run(args: list[str], home: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    # COLUMNS: wide enough that no table folds a value over two lines
    return run_cli(args, home, monkeypatch, capsys, COLUMNS="400")


@pytest.fixture
def markup_home(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> Path:
    """A home with the demo plant and one ingested document full of markup."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_home / "plant.db", home / "plant.db")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "QP-777.md").write_text(DOC, encoding="utf-8")
    # Published as a P100 production supervisor may (governed publishing): a new document, so at once.
    code, _, err = _run(["knowledge", "ingest", str(docs), "--as", "sam.supervisor"], home, monkeypatch, capsys)
    assert code == 0, err
    return home


def test_knowledge_search_prints_document_markup_literally(markup_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["knowledge", "search", "--as", "pat.planner", "gasket markup step"], markup_home,
                          monkeypatch, capsys)
    assert code == 0, err
    assert "QP-777 §1" in out
    _literal(out)


def test_a_question_with_markup_is_echoed_literally(markup_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # The question reaches the printed tool call as the search query.
    code, out, err = _run(["knowledge", "search", "--as", "pat.planner", f"nothing like {MARKUP} zzqx"],
                          markup_home, monkeypatch, capsys)
    assert code == 0, err
    _literal(out)
    code, out, err = _run(["ask", "--as", "pat.planner", f"what does the procedure say about {MARKUP}?"],
                          markup_home, monkeypatch, capsys)
    assert code == 0, err
    assert "search_documents" in out
    # Input screening already replaced the role tag [/INST] of the question; the rest is echoed as typed.
    assert "[removed: role tag]" in out
    _literal(out, (LINK, RED))


def test_approval_comments_and_arguments_are_printed_literally(tmp_path: Path) -> None:
    settings = Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})
    rid = seed(settings)
    code, out, err = run_approvals(settings, "approve", rid, "--as", "sam.supervisor", "--comment", MARKUP)
    assert code == 0, err
    code, out, err = run_approvals(settings, "show", rid)
    assert code == 0, err
    assert f"sam.supervisor: {MARKUP}" in " ".join(out.split())


def test_audit_show_prints_payloads_literally(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    settings = Settings.from_env({"JIDOKA_HOME": str(tmp_path / "home")})
    engine = make_engine(settings.state_url)
    log = AuditLog(engine, clock=lambda: datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
    log.create_schema()
    log.append(AuditEvent("tr-m", None, "pat.planner", AuditKind.PROMPT, {"text": INST}, "p"))
    log.append(AuditEvent("tr-m", None, "pat.planner", AuditKind.ANSWER, {"text": RED}, "p"))
    log.append(AuditEvent("tr-m", None, "pat.planner", AuditKind.ANSWER, {"text": LINK}, "p"))
    engine.dispose()
    result = CliRunner().invoke(audit_cli(settings), ["audit", "show", "--trace", "tr-m"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    _literal(result.stdout)


class _Row(BaseModel):
    note: str


class _Result(BaseModel):
    reason: str
    rows: list[_Row]
    tags: list[str]


def test_rendered_tool_results_print_plant_free_text_literally() -> None:
    console = Console(record=True, width=400, highlight=False)
    render_model(console, f"title {RED}", _Result(reason=INST, rows=[_Row(note=LINK), _Row(note=RED)],
                                                  tags=[INST, RED]))
    shown = console.export_text()
    _literal(shown)
    assert f"title {RED}" in shown
