"""Secrets are never printed by the CLI: database and Chroma passwords, the API key and the JWT secret are masked
in every line, and a database that does not answer is one clear line, not an internal error."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.server.cli.cli_helpers import run_cli

ASK = ["ask", "--as", "pat.planner", "which items are below their reorder point at P100?"]


def _secret() -> str:
    return f"s3cret-{uuid.uuid4().hex}"


_run = run_cli


def _flat(text: str) -> str:
    """``text`` without line breaks: a console folds long lines, and a secret folded in two is still printed."""
    return text.replace("\n", "")


def _crash_log(home: Path) -> str:
    path = home / "logs" / "jidoka-errors.log"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def test_init_ask_and_ingest_on_postgres_never_print_its_password(
        pg_database: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = _secret()
    database = make_url(pg_database()).set(password=secret)
    url = database.render_as_string(hide_password=False)
    assert secret in url  # the test server trusts loopback: the password is sent and ignored
    home = tmp_path / "home"
    env = {"JIDOKA_DATA_URL": url, "JIDOKA_STATE_URL": url}

    code, out, err = _run(["init", "--no-knowledge"], home, monkeypatch, capsys, **env)
    assert code == 0, err
    assert f"data: {database.render_as_string(hide_password=True)}" in _flat(out)
    assert "jidoka:***@" in _flat(out) and secret not in _flat(out + err)

    code, out, err = _run(ASK, home, monkeypatch, capsys, **env)
    assert code == 0, err
    assert "items_below_reorder" in out and secret not in _flat(out + err)

    docs = tmp_path / "docs"
    docs.mkdir()
    code, out, err = _run(["knowledge", "ingest", str(docs), "--as", "quinn.quality"], home, monkeypatch, capsys, **env)
    assert code == 0, err
    assert "index: " in out and secret not in _flat(out + err)
    assert secret not in _crash_log(home)


def test_ingest_shows_the_chroma_url_without_its_password(chroma_server_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    secret = _secret()
    scheme, _, rest = chroma_server_url.partition("://")
    docs = tmp_path / "empty"  # an empty folder: nothing is written to the shared server
    docs.mkdir()
    code, out, err = _run(["knowledge", "ingest", str(docs), "--as", "quinn.quality"], tmp_path / "home", monkeypatch,
                          capsys, JIDOKA_CHROMA_URL=f"{scheme}://jidoka:{secret}@{rest}")
    assert code == 0, err
    assert f"index: {scheme}://jidoka:***@{rest}" in _flat(out)
    assert secret not in _flat(out + err)


def test_an_unreachable_chroma_server_is_one_masked_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    secret = _secret()
    docs = tmp_path / "empty"
    docs.mkdir()
    code, out, err = _run(["knowledge", "ingest", str(docs), "--as", "quinn.quality"], tmp_path / "home", monkeypatch,
                          capsys, JIDOKA_CHROMA_URL=f"http://jidoka:{secret}@127.0.0.1:1")
    assert code == 1
    assert err.startswith("error: cannot open the knowledge index at http://jidoka:***@127.0.0.1:1")
    assert secret not in _flat(out + err)


@pytest.mark.parametrize(("args", "variable", "database"), [
    (["init", "--no-knowledge"], "JIDOKA_DATA_URL", "plant database"),
    (ASK, "JIDOKA_DATA_URL", "plant database"),
    (ASK, "JIDOKA_STATE_URL", "state database"),
    (["audit", "verify"], "JIDOKA_STATE_URL", "state database"),
    (["db", "upgrade"], "JIDOKA_DATA_URL", "plant database"),
], ids=["init-data", "ask-data", "ask-state", "audit-state", "db-upgrade-data"])
def test_an_unreachable_database_is_one_clear_masked_line(args: list[str], variable: str, database: str,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    secret = _secret()
    home = tmp_path / "home"
    # Nothing listens on port 1 of loopback: the connection is refused at once.
    code, out, err = _run(args, home, monkeypatch, capsys,
                          **{variable: f"postgresql+psycopg://jidoka:{secret}@127.0.0.1:1/plant"})
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: cannot reach the {database} at postgresql+psycopg://jidoka:***@127.0.0.1:1/plant "
                          f"({variable}): ")
    assert "refused" in err.lower()
    assert "internal error" not in err and "Traceback" not in err and secret not in _flat(out + err)
    assert not (home / "logs").exists()  # a known failure: no crash log


def test_a_database_failing_under_a_command_is_one_masked_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    jwt_secret, password = _secret(), _secret()

    def failing(*_args: object, **_kw: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception(
            f"server closed the connection unexpectedly; it said {jwt_secret} to postgresql://u:{password}@db/x"))

    monkeypatch.setattr(sys.modules["server.cli.ask"], "build_runtime", failing)  # `server.cli.ask` is also a function
    home = tmp_path / "home"
    code, out, err = _run(ASK, home, monkeypatch, capsys, JIDOKA_JWT_SECRET=jwt_secret)
    assert code == 1
    assert err.startswith("error: a database failed (JIDOKA_DATA_URL or JIDOKA_STATE_URL): server closed the "
                          "connection unexpectedly; it said *** to postgresql://u:***@db/x\n")
    assert "internal error" not in err
    log = _crash_log(home)
    assert "OperationalError" in log
    assert jwt_secret not in _flat(log + out + err) and password not in _flat(log + out + err)


def test_an_internal_error_and_its_crash_log_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    api_key, password = f"sk-{_secret()}", _secret()

    def failing(*_args: object, **_kw: object) -> None:
        raise RuntimeError(f"boom at postgresql://jidoka:{password}@db/plant with key {api_key}")

    monkeypatch.setattr(sys.modules["server.cli.ask"], "build_runtime", failing)  # `server.cli.ask` is also a function
    home = tmp_path / "home"
    code, out, err = _run(ASK, home, monkeypatch, capsys, OPENAI_API_KEY=api_key,
                          JIDOKA_DATA_URL=f"postgresql://jidoka:{password}@db/plant")
    assert code == 70
    assert "internal error: RuntimeError: boom at postgresql://jidoka:***@db/plant with key ***" in err
    log = _crash_log(home)
    assert "RuntimeError" in log and "Traceback" in log
    assert api_key not in _flat(log + out + err) and password not in _flat(log + out + err)
