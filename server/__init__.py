"""The edge of jidoka: settings, the CLI and (later) the HTTP server; resources are built here."""

from server.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError"]
