"""How a follow-up shows the rows of a tool result: only those over or under a figure, or the next page.

"Just the ones over 1,000" and "show me the rest" have no tool argument behind them: the model re-issues the
previous call (with a larger limit) and, before the answer is written, keeps the rows that pass the comparison
or skips the rows the previous answer already listed. Aggregates over every row are dropped and the counts are
left as the tool gave them, with a note saying what is listed: every figure of the answer still comes from the
result (the grounding check accepts nothing else). Which lists,
fields and counts a tool's result has is data (``rows:`` in ``data/follow_ups.yaml``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.rules.format import num

__all__ = ["RowSpec", "RowView", "specs"]


@dataclass(frozen=True)
class RowSpec:
    """Where a tool's result keeps its records (see ``rows:`` in the data file)."""

    lists: tuple[str, ...]
    fields: Mapping[str, str] = field(default_factory=dict)
    """Unit ('qty', 'value', 'days') → the row field a threshold in that unit compares."""
    drop: tuple[str, ...] = ()
    percent_arg: str = ""
    """A tool argument that takes a 0..1 rate ('only those over 80%' → ``threshold: 0.8``)."""
    shown: int = 10
    """Rows an answer lists from the result ('show me the rest' starts after them)."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> RowSpec:
        """A spec from its data-file entry."""
        units = {unit: str(raw[unit]) for unit in ("qty", "value", "days") if raw.get(unit)}
        return cls(lists=tuple(str(x) for x in raw.get("list") or ()), fields=units,
                   drop=tuple(str(x) for x in raw.get("drop") or ()),
                   percent_arg=str(raw.get("percent_arg") or ""), shown=int(raw.get("shown", 10)))


LISTED_ROWS = 10
"""Rows an answer lists (the first page)."""
EVERY_ROWS = 50
"""Rows an answer lists when the user asked for all of them."""


@dataclass(frozen=True)
class RowView:
    """Rows to keep (a comparison) and rows to skip (already listed)."""

    above: float | None = None
    below: float | None = None
    unit: str = "qty"
    """Which field the comparison reads: 'qty', 'value' (money) or 'days'."""
    skip: int = 0
    figure: str = ""
    """The figure as the user typed it ('$20k'): the note repeats it, so it is grounded by the question."""
    every: bool = False
    """List every row at once ('show all of them'), up to :data:`EVERY_ROWS`, instead of the first page."""
    percent: float | None = None
    """A percentage the tool takes as an argument instead ('only those over 80%' → assets' ``threshold``)."""

    @property
    def listed(self) -> int:
        """How many rows the answer lists."""
        return EVERY_ROWS if self.every else LISTED_ROWS

    @property
    def filters(self) -> bool:
        """True when rows are compared against a figure."""
        return self.above is not None or self.below is not None

    def keeps(self, row: Mapping[str, Any], spec: RowSpec) -> bool:
        """True when ``row`` passes the comparison (a row without the field never does)."""
        name = spec.fields.get(self.unit)
        value = row.get(name) if name else None
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return (self.above is None or value > self.above) and (self.below is None or value < self.below)

    def apply(self, content: str, spec: RowSpec | None) -> str:
        """``content`` (a tool result's JSON) with only the rows this view shows; unchanged when it cannot tell."""
        if spec is None or not (self.filters or self.skip):
            return content
        try:
            result = json.loads(content)
        except (TypeError, ValueError):
            return content
        if not isinstance(result, dict) or result.get("status") != "ok":
            return content
        if self.filters and not spec.fields.get(self.unit):
            return content  # nothing to compare in this result: answering from all of it is the honest choice
        changed = False
        for key in spec.lists:
            rows = result.get(key)
            if not isinstance(rows, list):
                continue
            kept = [r for r in rows if isinstance(r, Mapping) and self.keeps(r, spec)] if self.filters else rows
            result[key] = kept[self.skip:]
            changed = True
        if not changed:
            return content
        if self.filters:
            # Totals over every matching row no longer describe the rows shown. The counts stay as the tool
            # gave them (a recount would be a figure no tool result states): the note says what is listed.
            for key in spec.drop:
                result.pop(key, None)
        return json.dumps(result, default=str)

    def note(self, results: Sequence[str] = ()) -> str:
        """The sentence that says which rows are listed ('' when nothing is left out); on a next page, how many
        rows are still to come when the tool ``results`` (as it returned them) count them."""
        parts = []
        if self.filters:
            what = _UNIT_WORDS.get(self.unit, "quantity")
            if self.above is not None:
                parts.append(f"{what} over {self.figure or num(self.above)}")
            if self.below is not None:
                parts.append(f"{what} under {self.figure or num(self.below)}")
        limits = " and ".join(parts)
        if self.skip:
            rest = "Continuing the list after the rows of my previous answer"
            if limits:
                return f"{rest}, only those with {limits}:"
            left = _beyond(results)
            return f"{rest} ({num(left)} more after these):" if left else f"{rest}:"
        return f"Only the rows with {limits} are listed (the counts are of every matching row):" if limits else ""


def _beyond(results: Sequence[str]) -> int:
    """The rows the tools counted but did not return (their ``more`` field), over ``results``."""
    left = 0
    for content in results:
        try:
            result = json.loads(content)
        except (TypeError, ValueError):
            continue
        more = result.get("more") if isinstance(result, dict) else None
        if isinstance(more, int) and not isinstance(more, bool):
            left += more
    return left


_UNIT_WORDS = {"qty": "a quantity", "value": "a value", "days": "days late"}


def specs(raw: Mapping[str, Any]) -> dict[str, RowSpec]:
    """Every tool's spec from the ``rows:`` section."""
    return {str(tool): RowSpec.parse(entry) for tool, entry in raw.items() if isinstance(entry, Mapping)}
