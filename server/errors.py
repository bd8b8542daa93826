"""The error tree of the server package (settings, the HTTP API, the CLI) under :class:`JidokaError`."""

from __future__ import annotations

from knowledge.errors import JidokaError
from server.secrets import mask_url

__all__ = ["DatabaseUnreachable", "JidokaError", "SchemaOutOfDate", "ServerError", "SettingsError", "TokenNotMinted"]


class ServerError(JidokaError):
    """Base of every error raised by the server package."""


class SettingsError(ServerError, ValueError):
    """An environment variable holds a value jidoka cannot use; the message names it."""


class DatabaseUnreachable(ServerError):
    """A database jidoka needs did not answer (down, refused, unknown host, credentials refused); the message names
    it, its variable and its URL without the password."""

    def __init__(self, database: str, variable: str, url: str, reason: str) -> None:
        self.database = database
        """What it holds, for people: ``plant database`` or ``state database``."""
        self.variable = variable
        """The variable naming it: ``JIDOKA_DATA_URL`` or ``JIDOKA_STATE_URL``."""
        self.url = mask_url(url)
        """Its URL, password masked."""
        self.reason = reason
        super().__init__(f"cannot reach the {database} at {self.url} ({variable}): {reason}")


class SchemaOutOfDate(ServerError):
    """A database lacks jidoka's tables or is at another schema version; the message names the command to run."""


class TokenNotMinted(ServerError):
    """A demo token cannot be minted as asked: no ``JIDOKA_JWT_SECRET``, or a lifetime over ``JIDOKA_JWT_MAX_TTL_S``
    (the server would refuse it)."""
