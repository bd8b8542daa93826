"""executive tools (placeholder until implemented)."""

from __future__ import annotations

from tools.spec import ToolSpec

__all__ = ["TOOLS"]

TOOLS: tuple[ToolSpec, ...] = ()
