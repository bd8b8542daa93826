"""A phrase of a question that fits several records (the model asks which one)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Ambiguity"]


@dataclass(frozen=True)
class Ambiguity:
    """A phrase that fits several records: the model asks which one."""

    kind: str
    """'item', 'line', 'supplier', 'machine', 'lot' ..."""
    phrase: str
    candidates: tuple[tuple[str, str], ...]
    """(id, label) pairs."""
