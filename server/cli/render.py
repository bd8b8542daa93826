"""Rendering typed results for a person at a terminal (rich tables, not JSON).

Everything shown here is data (plant free text, answers, arguments): it is escaped, never read as rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

__all__ = ["answer_markdown", "render_model", "tool_call_line"]

_MAX_ROWS = 15
_MAX_COLUMNS = 8
_SKIP = {"record_ids"}
_FIRST = ("reason", "reasons", "description", "shortfall_qty", "days_late")


def _cell(value: Any) -> str:
    """``value`` as table text, markup escaped (plant free text is data, never rich markup)."""
    return escape(_text(value))


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value[:6]) + (" …" if len(value) > 6 else "")
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in list(value.items())[:6])
    return str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _table(title: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    # Keep tables readable in a terminal: drop columns empty in every row, fold columns with one value
    # into the caption, put explanations first after the leading id, then cap the count.
    columns = [c for c in rows[0] if c not in _SKIP and not all(_empty(r.get(c)) for r in rows)]
    constant = {c: rows[0].get(c) for c in columns[1:] if len(rows) > 1 and all(r.get(c) == rows[0].get(c)
                                                                                   for r in rows)}
    columns = [c for c in columns if c not in constant]
    columns = columns[:1] + [c for c in columns[1:] if c in _FIRST] + [c for c in columns[1:] if c not in _FIRST]
    hidden = max(0, len(columns) - _MAX_COLUMNS)
    columns = columns[:_MAX_COLUMNS]
    table = Table(title=f"{escape(title)} ({len(rows)})", title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(escape(str(column)), overflow="fold", max_width=40)
    for row in rows[:_MAX_ROWS]:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    shared = ", ".join(f"{escape(str(k))}={_cell(v)}" for k, v in constant.items())
    notes = [f"all rows: {shared}"] if constant else []
    if len(rows) > _MAX_ROWS:
        notes.append(f"{len(rows) - _MAX_ROWS} more rows")
    if hidden:
        notes.append(f"{hidden} more columns")
    if notes:
        table.caption = f"… {', '.join(notes)} (use --json for everything)"
    return table


def _render(console: Console, title: str, data: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in data.items() if k not in _SKIP and not isinstance(v, (list, dict))}
    if scalars:
        summary = Table(title=escape(title), title_justify="left", show_header=False)
        summary.add_column("field", style="bold")
        summary.add_column("value", overflow="fold")
        for key, value in scalars.items():
            summary.add_row(escape(str(key)), _cell(value))
        console.print(summary)
    for key, value in data.items():
        if key in _SKIP:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            console.print(_table(key, value))
        elif isinstance(value, list) and value:
            console.print(f"[bold]{escape(key)}[/bold]: {_cell(value)}")
        elif isinstance(value, dict) and value:
            if all(isinstance(v, dict) for v in value.values()):
                for sub_key, sub_value in value.items():
                    _render(console, f"{key}: {sub_key}", sub_value)
            elif all(isinstance(v, list) for v in value.values()):
                for sub_key, sub_value in value.items():
                    if sub_value and all(isinstance(v, dict) for v in sub_value):
                        console.print(_table(f"{key}: {sub_key}", sub_value))
                    else:
                        console.print(f"[bold]{escape(f'{key}: {sub_key}')}[/bold]: {_cell(sub_value) or 'none'}")
            else:
                console.print(f"[bold]{escape(key)}[/bold]: {_cell(value)}")
    ids = data.get("record_ids") or []
    if ids:
        console.print(f"[dim]records read: {len(ids)} — {_cell(ids)}[/dim]")


def answer_markdown(answer: str) -> Markdown:
    """A model's answer as Markdown (never rich markup), links shown with their address rather than hidden behind
    their text."""
    return Markdown(answer, hyperlinks=False)


def tool_call_line(call: Mapping[str, Any], label: str = "tool") -> str:
    """One governed call as a markup line: name, arguments (data, escaped), decision and rule."""
    colour = "green" if call["decision"] == "allow" else "red"
    args = json.dumps(call["args"], ensure_ascii=False)
    return (f"[dim]{label}[/dim] {escape(str(call['name']))} {escape(args)} → [{colour}]"
            f"{escape(str(call['decision']))}[/{colour}] [dim]({escape(str(call['rule_id']))})[/dim]")


def render_model(console: Console, title: str, model: BaseModel) -> None:
    """Print ``model`` as a summary table plus one table per list of records."""
    _render(console, title, model.model_dump(mode="json"))
