"""Running the ``jidoka`` CLI in-process for tests: one home, chosen variables, exit code and output."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from server.cli import main

__all__ = ["run_cli"]


def run_cli(args: list[str], home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *,
            unset: Iterable[str] = (), **env: str) -> tuple[int, str, str]:
    """``jidoka ARGS`` with ``JIDOKA_HOME=home``, ``env`` set and ``unset`` removed: (exit code, stdout, stderr)."""
    monkeypatch.setenv("JIDOKA_HOME", str(home))
    for key in unset:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
