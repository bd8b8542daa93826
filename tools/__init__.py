"""ERP/MES tools: the canonical schema, the demo plant and the permission-free read tools.

Tools take a :class:`DataScope` and apply it in SQL; they never decide who may
call them — the gate in ``guardrails`` does.

The names below are imported on first use (PEP 562), so importing one tool module does not load the whole
catalog (and the catalog can import the tool modules without a cycle through this package).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.catalog import Catalog, default_catalog
    from tools.context import plant_as_of, tool_context
    from tools.errors import ArgumentError, PlantNotInitialized, RecordNotFound, ToolError, UnknownTool
    from tools.plant.db import make_engine
    from tools.scope import DataScope
    from tools.spec import NotFound, ToolArgs, ToolContext, ToolResult, ToolSpec

_HOMES = {
    "ArgumentError": "tools.errors",
    "Catalog": "tools.catalog",
    "DataScope": "tools.scope",
    "NotFound": "tools.spec",
    "PlantNotInitialized": "tools.errors",
    "RecordNotFound": "tools.errors",
    "ToolArgs": "tools.spec",
    "ToolContext": "tools.spec",
    "ToolError": "tools.errors",
    "ToolResult": "tools.spec",
    "ToolSpec": "tools.spec",
    "UnknownTool": "tools.errors",
    "default_catalog": "tools.catalog",
    "make_engine": "tools.plant.db",
    "plant_as_of": "tools.context",
    "tool_context": "tools.context",
}

__all__ = [
    "ArgumentError",
    "Catalog",
    "DataScope",
    "NotFound",
    "PlantNotInitialized",
    "RecordNotFound",
    "ToolArgs",
    "ToolContext",
    "ToolError",
    "ToolResult",
    "ToolSpec",
    "UnknownTool",
    "default_catalog",
    "make_engine",
    "plant_as_of",
    "tool_context",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tools' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value
