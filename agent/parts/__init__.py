"""Structured parts of an answer (tables and series) built from the turn's governed tool results."""

from agent.parts.build import PART_TOOLS, parts_for, screen_parts
from agent.parts.model import (
    AnswerPart,
    Baseline,
    Column,
    SeriesLine,
    SeriesPart,
    SeriesPoint,
    TablePart,
    TableRow,
    parse_part,
)

__all__ = ["PART_TOOLS", "AnswerPart", "Baseline", "Column", "SeriesLine", "SeriesPart", "SeriesPoint", "TablePart",
           "TableRow", "parse_part", "parts_for", "screen_parts"]
