"""The server's filesystem paths never leave it: what an HTTP client reads names no file of the server.

Messages written for people often name a file — "cannot open the knowledge index at /srv/jidoka/knowledge: …",
a SQLite URL, an anchor file. The CLI runs on the operator's own machine, so its lines keep those paths (they are
the operator's files, and the path is what they need to act). An HTTP response goes to a client that has no
business knowing how the server's disk is laid out, so every response body that can carry such a message — error
details, the chat stream's ``error`` event, the audit views — goes through :class:`PathRedactor`: a configured
location becomes its variable (``$JIDOKA_HOME/knowledge``) and any other absolute path ``<path>``. The server log
keeps the full message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.settings import Settings

__all__ = ["HIDDEN_PATH", "PathRedactor"]

HIDDEN_PATH = "<path>"
"""What an absolute path that is no configured location is shown as."""

# An absolute POSIX path of at least two segments ("/srv/x", "/home/a/b.db"), not part of a URL ("http://h/p":
# the host's slash follows a slash, the path's follows the host) nor of a word ("1/2", "and/or", "P100/P200").
_ABSOLUTE = re.compile(r"(?<![\w.~/\\-])/(?:[^\s/'\"`<>(),;|*?]+/)+[^\s/'\"`<>(),;|*?]*")
# The path of an SQLite URL (sqlite:////srv/state.db, sqlite+pysqlite:////…): its slashes follow the scheme's.
_SQLITE_PATH = re.compile(r"(?i)(sqlite[\w+]*:///)(/[^\s'\"`<>,;|]*)")


@dataclass(frozen=True)
class PathRedactor:
    """Replaces the server's paths in text: configured locations by their variable, any other absolute path by
    :data:`HIDDEN_PATH`. Without locations it still hides every absolute path."""

    locations: tuple[tuple[str, str], ...] = ()
    """``(path, shown as)`` pairs, longest path first (so a file inside a configured folder is named by the
    most specific variable)."""

    @classmethod
    def of(cls, locations: Iterable[tuple[Path | str | None, str]]) -> PathRedactor:
        """A redactor for these ``(path, label)`` pairs (``None`` paths skipped; the root ``/`` never counts)."""
        found = {str(path).rstrip("/"): label for path, label in locations if path is not None}
        pairs = [(path, label) for path, label in found.items() if path.startswith("/") and len(path) > 1]
        return cls(tuple(sorted(pairs, key=lambda pair: (-len(pair[0]), pair[0]))))

    @classmethod
    def from_settings(cls, settings: Settings) -> PathRedactor:
        """The redactor of ``settings``: ``$JIDOKA_HOME``, ``$JIDOKA_POLICY_DIR`` (the shipped policy folder when
        unset) and ``$JIDOKA_AUDIT_ANCHOR``."""
        from guardrails.policy.loader import default_policy_dir

        return cls.of([(settings.home, "$JIDOKA_HOME"),
                       (settings.policy_dir or default_policy_dir(), "$JIDOKA_POLICY_DIR"),
                       (settings.audit_anchor, "$JIDOKA_AUDIT_ANCHOR")])

    def redact(self, text: str) -> str:
        """``text`` without any path of the server."""
        if "/" not in text:
            return text
        shown = text
        for path, label in self.locations:
            shown = re.sub(rf"{re.escape(path)}(?=$|[/\s'\"`<>(),;:|])", label.replace("\\", r"\\"), shown)
        shown = _SQLITE_PATH.sub(lambda m: m.group(1) + HIDDEN_PATH, shown)
        return _ABSOLUTE.sub(HIDDEN_PATH, shown)

    def redact_json(self, value: Any) -> Any:
        """A JSON-like value with every string in it redacted (keys too; numbers, booleans and ``None`` kept)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(str(k)): self.redact_json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_json(v) for v in value]
        return value
