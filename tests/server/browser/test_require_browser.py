"""Without Chromium the browser test skips on a workstation but fails in CI (so CI cannot pass without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.browser import _live


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setattr(_live, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("JIDOKA_REQUIRE_BROWSER", raising=False)
    return monkeypatch


def test_skips_with_the_reason_outside_ci(no_chromium: pytest.MonkeyPatch) -> None:
    with pytest.raises(pytest.skip.Exception, match="no-chromium"):
        _live.require_browser()


@pytest.mark.parametrize("variable", ["CI", "JIDOKA_REQUIRE_BROWSER"])
def test_fails_in_ci(no_chromium: pytest.MonkeyPatch, variable: str) -> None:
    no_chromium.setenv(variable, "1")
    with pytest.raises(pytest.fail.Exception, match="CI requires it"):
        _live.require_browser()
