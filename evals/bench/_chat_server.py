"""The app the HTTP chat benchmark serves: ``create_app`` on settings from the environment (a uvicorn factory)."""

from __future__ import annotations

from typing import Any

__all__ = ["app"]


def app() -> Any:
    """``uvicorn --factory evals.bench._chat_server:app``; settings come from the process environment."""
    from server.app import create_app
    from server.settings import Settings

    return create_app(Settings.from_env())
