"""What an answer writer gets: the turn's tool outputs and the question's focus, and the writer type itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.rules.entities import Entities

__all__ = ["Focus", "ToolOutput", "Writer"]


@dataclass(frozen=True)
class ToolOutput:
    """One tool result of the turn."""

    name: str
    args: Mapping[str, Any]
    content: str


@dataclass(frozen=True)
class Focus:
    """What the question asked for, so a writer can lead with it."""

    intent: str
    entities: Entities
    args: Mapping[str, Any] = field(default_factory=dict)
    rows: int = 10
    """How many rows of a list the answer shows (more when the user asked for all of them)."""


Writer = Callable[[Mapping[str, Any], Focus], list[str]]
