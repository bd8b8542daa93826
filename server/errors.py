"""The error tree of the server package (settings, the HTTP API, the CLI) under :class:`JidokaError`."""

from __future__ import annotations

from knowledge.errors import JidokaError

__all__ = ["JidokaError", "SchemaOutOfDate", "ServerError", "SettingsError"]


class ServerError(JidokaError):
    """Base of every error raised by the server package."""


class SettingsError(ServerError, ValueError):
    """An environment variable holds a value jidoka cannot use; the message names it."""


class SchemaOutOfDate(ServerError):
    """A database lacks jidoka's tables or is at another schema version; the message names the command to run."""
