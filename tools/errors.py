"""The error tree of the tools package.

Every failure a caller can cause has a typed error with the facts needed to
explain it; nothing here carries a traceback to a user.
"""

from __future__ import annotations

from knowledge.errors import JidokaError

__all__ = [
    "ActionError",
    "ActionSchemaMissing",
    "ArgumentError",
    "IdempotencyConflict",
    "NothingToCompensate",
    "PlantNotInitialized",
    "RecordNotFound",
    "ToolError",
    "UnknownDetector",
    "UnknownTool",
]


class ToolError(JidokaError):
    """Base of every error raised by the tools package."""


class UnknownTool(ToolError):
    """No tool of that name is in the catalog."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown tool {name!r}")


class ArgumentError(ToolError):
    """The arguments given to a tool are malformed; ``field`` names the offending one."""

    def __init__(self, tool: str, field: str, message: str) -> None:
        self.tool = tool
        self.field = field
        self.message = message
        super().__init__(f"{tool}: invalid argument {field!r}: {message}")


class UnknownDetector(ArgumentError):
    """No monitoring detector of that kind exists (``tools.monitoring``)."""

    def __init__(self, kind: str, known: tuple[str, ...]) -> None:
        self.kind = kind
        super().__init__("run_detector", "kind", f"unknown detector kind {kind!r}; known: {', '.join(known)}")


class RecordNotFound(ToolError):
    """A record named by the caller does not exist (or is outside the caller's scope).

    Tools raise it; :func:`tools.spec.ToolSpec.invoke` turns it into a typed
    :class:`tools.spec.NotFound` result so callers never see an exception for it.
    """

    def __init__(self, entity: str, ids: list[str]) -> None:
        self.entity = entity
        self.ids = ids
        super().__init__(f"{entity} not found: {', '.join(ids)}")


class PlantNotInitialized(ToolError):
    """The plant database has no tables yet: run ``jidoka init``."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"no plant data at {url}: run `jidoka init` first")


class ActionError(ToolError):
    """Base of the errors of governed actions (``tools.actions``)."""


class IdempotencyConflict(ActionError):
    """An idempotency key already recorded an execution of another action or with other arguments."""

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        self.detail = detail
        super().__init__(f"idempotency key {key!r} already used: {detail}")


class NothingToCompensate(ActionError):
    """The execution changed nothing (its precondition failed), so there is nothing to undo."""

    def __init__(self, key: str, status: str) -> None:
        self.key = key
        self.status = status
        super().__init__(f"execution {key!r} changed nothing (status {status}); there is nothing to undo")


class ActionSchemaMissing(ActionError):
    """The plant database predates the action tables: run ``jidoka init --force`` (or create them)."""

    def __init__(self, url: str, missing: list[str]) -> None:
        self.url = url
        self.missing = missing
        super().__init__(f"the plant at {url} lacks the action tables {', '.join(missing)}; "
                         "rebuild it with `jidoka init --force`")
