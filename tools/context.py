"""Building a :class:`ToolContext` for a plant database."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Engine, inspect, select

from tools.errors import PlantNotInitialized
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolContext

__all__ = ["plant_as_of", "tool_context"]


def plant_as_of(engine: Engine, today: date) -> datetime:
    """The as-of time recorded by the generator, or the start of ``today`` if none is recorded."""
    if not inspect(engine).has_table("plant_meta"):
        raise PlantNotInitialized(engine.url.render_as_string(hide_password=True))
    meta = table("plant_meta")
    with engine.connect() as conn:
        value = conn.execute(select(meta.c.value).where(meta.c.key == "as_of")).scalar_one_or_none()
    if value is None:
        return datetime.combine(today, time(6, 0))
    return datetime.fromisoformat(value)


def tool_context(engine: Engine, scope: DataScope, today: date) -> ToolContext:
    """A context for tool calls against ``engine`` under ``scope``."""
    return ToolContext(engine=engine, scope=scope, today=today, as_of=plant_as_of(engine, today))
