"""ERP/MES tools: the canonical schema, the demo plant and the permission-free read tools.

Tools take a :class:`DataScope` and apply it in SQL; they never decide who may
call them — the gate in ``guardrails`` does.
"""

from tools.catalog import Catalog, default_catalog
from tools.context import plant_as_of, tool_context
from tools.errors import ArgumentError, PlantNotInitialized, RecordNotFound, ToolError, UnknownTool
from tools.plant.db import make_engine
from tools.scope import DataScope
from tools.spec import NotFound, ToolArgs, ToolContext, ToolResult, ToolSpec

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
