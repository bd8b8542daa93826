"""One settings object, read from an injectable environment.

Nothing reads ``os.environ`` at import time; the CLI entry and the FastAPI
lifespan call :meth:`Settings.from_env` and pass the result down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

__all__ = ["DEFAULT_TODAY", "Settings", "SettingsError"]

DEFAULT_TODAY = date(2026, 3, 2)


class SettingsError(ValueError):
    """An environment variable holds a value jidoka cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of jidoka."""

    home: Path
    """``JIDOKA_HOME``: where embedded state lives (default ``./var``)."""
    data_url: str
    """``JIDOKA_DATA_URL``: SQLAlchemy URL of the ERP/MES data."""
    state_url: str
    """``JIDOKA_STATE_URL``: SQLAlchemy URL of audit, approvals and checkpoints."""
    today: date
    """``JIDOKA_TODAY``: the plant's 'today' (ISO date)."""
    policy_dir: Path | None = None
    """``JIDOKA_POLICY_DIR``: the policy folder; ``None`` uses the policy shipped with jidoka."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (``os.environ`` when omitted)."""
        source = os.environ if env is None else env
        home = Path(source.get("JIDOKA_HOME") or "./var").expanduser().resolve()
        raw_today = source.get("JIDOKA_TODAY") or DEFAULT_TODAY.isoformat()
        try:
            today = date.fromisoformat(raw_today)
        except ValueError:
            raise SettingsError(
                f"JIDOKA_TODAY must be an ISO date like 2026-03-02, got {raw_today!r}"
            ) from None
        return cls(
            home=home,
            data_url=source.get("JIDOKA_DATA_URL") or f"sqlite:///{home / 'plant.db'}",
            state_url=source.get("JIDOKA_STATE_URL") or f"sqlite:///{home / 'state.db'}",
            today=today,
            policy_dir=Path(source["JIDOKA_POLICY_DIR"]).expanduser().resolve()
            if source.get("JIDOKA_POLICY_DIR") else None,
        )
