"""One settings object, read from an injectable environment.

Nothing reads ``os.environ`` at import time; the CLI entry and the FastAPI
lifespan call :meth:`Settings.from_env` and pass the result down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    model: str = "rules"
    """``JIDOKA_MODEL``: ``rules`` (offline, default) or ``openai:<model>``."""
    openai_base_url: str | None = None
    """``OPENAI_BASE_URL``: an OpenAI-compatible server (Azure OpenAI, vLLM, Ollama, LM Studio…)."""
    openai_api_key: str | None = field(default=None, repr=False)
    """``OPENAI_API_KEY`` (optional for local servers); never printed."""
    model_timeout_s: float = 20.0
    """``JIDOKA_MODEL_TIMEOUT_S``: after this many seconds a model call fails over to the rules model."""

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
        raw_timeout = source.get("JIDOKA_MODEL_TIMEOUT_S") or "20"
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise SettingsError(f"JIDOKA_MODEL_TIMEOUT_S must be a number of seconds, got {raw_timeout!r}") from None
        if not 0 < timeout <= 3600:
            raise SettingsError(f"JIDOKA_MODEL_TIMEOUT_S must be between 0 and 3600 seconds, got {raw_timeout!r}")
        return cls(
            model=source.get("JIDOKA_MODEL") or "rules",
            openai_base_url=source.get("OPENAI_BASE_URL") or None,
            openai_api_key=source.get("OPENAI_API_KEY") or None,
            model_timeout_s=timeout,
            home=home,
            data_url=source.get("JIDOKA_DATA_URL") or f"sqlite:///{home / 'plant.db'}",
            state_url=source.get("JIDOKA_STATE_URL") or f"sqlite:///{home / 'state.db'}",
            today=today,
            policy_dir=Path(source["JIDOKA_POLICY_DIR"]).expanduser().resolve()
            if source.get("JIDOKA_POLICY_DIR") else None,
        )
