"""The typed parts of an answer beside its text: a table (a list people sort and export) and a series (a chart).

Parts are built from the governed tool results of the turn, never from the model's words (see
:mod:`agent.parts.build`); they travel as JSON between graph steps and are parsed back with :func:`parse_part`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = ["AnswerPart", "Baseline", "Cell", "Column", "SeriesLine", "SeriesPart", "SeriesPoint", "TablePart",
           "TableRow", "parse_part"]

Cell = str | int | float | None
"""One table value: text, a number, an ISO date (``YYYY-MM-DD``) as text, or none."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Frozen):
    """A table column: its key, what people read as its header, and how its values sort and show."""

    key: str
    label: str
    kind: Literal["text", "number", "date"]
    unit: str | None = None
    """What a number counts (``%``, a UoM, a currency); ``None`` for text and dates."""


class TableRow(_Frozen):
    """One row: its cells in column order and the record it is about (opens the record card)."""

    record_id: str | None
    cells: tuple[Cell, ...]


class TablePart(_Frozen):
    """A list answer as a table."""

    type: Literal["table"] = "table"
    title: str
    tool: str
    """The tool whose governed result the table shows."""
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    record_column: str | None = None
    """Key of the column holding each row's record id (shown as a link to the record card)."""
    total_rows: int = Field(description="Rows the tool found; more than ``len(rows)`` when the list was cut.")


class SeriesPoint(_Frozen):
    """One point: an x (ISO date or a label) and a y (``None`` where there is no value, e.g. a day without output)."""

    x: str
    y: float | None
    record_id: str | None = None


class SeriesLine(_Frozen):
    """One named line (or set of bars) of a chart."""

    name: str
    points: tuple[SeriesPoint, ...]


class Baseline(_Frozen):
    """A reference value drawn across the chart as a dashed line (a baseline rate, a reorder minimum, a threshold)."""

    label: str
    value: float


class SeriesPart(_Frozen):
    """A trend or a comparison people would rather look at than read."""

    type: Literal["series"] = "series"
    title: str
    tool: str
    chart: Literal["line", "bar"]
    x_kind: Literal["date", "text"]
    x_label: str
    y_label: str
    unit: str | None = None
    series: tuple[SeriesLine, ...]
    baseline: Baseline | None = None


AnswerPart = Annotated[TablePart | SeriesPart, Field(discriminator="type")]
"""A part of an answer."""

_PART: TypeAdapter[TablePart | SeriesPart] = TypeAdapter(AnswerPart)


def parse_part(data: Mapping[str, Any]) -> TablePart | SeriesPart:
    """The part ``data`` (a part's JSON) describes; pydantic's ``ValidationError`` when it describes none."""
    return _PART.validate_python(dict(data))
