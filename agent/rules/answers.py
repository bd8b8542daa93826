"""Writing the answer from this turn's tool results.

Every figure is printed as the tool returned it (thousands separators only;
rates as percentages) and cites the records behind it in brackets; the data's
as-of time is stated once. Free text inside spotlighted ``<<<DATA`` blocks is
only ever quoted as data. Refusals and 'not found' results are relayed plainly,
a tool whose service is down says so (never 'not found'), and an empty result says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from agent.rules import answers_maint, answers_ops, answers_sales, answers_supply, procedures
from agent.rules.action_answers import action_answer, is_action_tool
from agent.rules.focus import Focus, ToolOutput, Writer
from agent.rules.format import as_of_line, cite, data_text
from agent.unavailable import UNAVAILABLE, unavailable_line

__all__ = ["Focus", "ToolOutput", "compose_answer"]

REFUSALS = ("denied", "needs_approval", "invalid_arguments")


def _writers() -> dict[str, Writer]:
    return {**answers_supply.WRITERS, **answers_ops.WRITERS, **answers_sales.WRITERS, **answers_maint.WRITERS,
            **procedures.WRITERS}


def _relay(name: str, result: Mapping[str, Any]) -> list[str]:
    status = result.get("status")
    if status == UNAVAILABLE:  # the service is down: never read as 'not found'
        return [unavailable_line(name)]
    if status in REFUSALS:
        reason = data_text(result.get("reason")) or "no reason given"
        verb = {"denied": "was refused", "needs_approval": "needs approval first",
                "invalid_arguments": "could not run"}[str(status)]
        return [f"The {name} lookup {verb}: {reason}"]
    missing = [str(i) for i in result.get("missing_ids") or []]
    entity = str(result.get("entity") or "record")
    listed = ", ".join(missing) or "the record you named"
    return [f"Not found: {entity} {listed} has no records in the data you can access {cite(*missing)}."]


def compose_answer(outputs: Sequence[ToolOutput], focus: Focus, skipped: Sequence[str] = ()) -> str:
    """The answer text for ``outputs`` (the turn's tool results, in call order)."""
    writers = _writers()
    parts: list[str] = []
    as_of: str | None = None
    for output in outputs:
        try:
            result = json.loads(output.content)
        except (TypeError, ValueError):
            parts.append(f"The {output.name} lookup returned something I could not read, so I cannot answer "
                         "from it.")
            continue
        if not isinstance(result, dict):
            parts.append(f"The {output.name} lookup returned an unexpected result.")
            continue
        status = result.get("status")
        if is_action_tool(output.name):
            parts.extend(action_answer(output.name, output.args, result))
            if status == "executed" and result.get("as_of"):
                as_of = as_of or str(result["as_of"])
            continue
        if status != "ok":
            parts.extend(_relay(output.name, result))
            if status == "not_found" and as_of is None and result.get("as_of"):
                as_of = str(result["as_of"])
            continue
        as_of = as_of or (str(result["as_of"]) if result.get("as_of") else None)
        writer = writers.get(output.name)
        if writer is None:
            parts.append(f"I received {output.name} results but cannot summarise them.")
            continue
        lines = writer(result, replace(focus, args=output.args))
        parts.extend(lines or [f"The {output.name} lookup returned no matching records."])
    for tool in skipped:
        parts.append(f"(I did not check {tool}: your role has no access to it.)")
    if as_of:
        parts.append(as_of_line(as_of))
    if not parts:
        return "The tools returned nothing I can answer from."
    # List rows stay together under their heading; other sentences are paragraphs (renders well as Markdown).
    text = parts[0]
    for part in parts[1:]:
        text += ("\n" if part.startswith(("- ", "  ")) else "\n\n") + part
    return text
