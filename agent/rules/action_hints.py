"""Suggesting a governed action from a read's results, by the policy's trigger limits.

The rules model derives tool calls from the user's question alone, so it never proposes an action because
of what a tool returned; it only says, in the answer, that the policy's trigger is met and how to ask for
the action. The limits come from the descriptions of the actions the model is offered
(:func:`guardrails.policy.triggers.trigger_note`), so the model knows only what the policy gives the
user's sites, and nothing when the action is not offered to the user.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agent.rules.format import cite
from guardrails.policy.triggers import read_trigger_note

__all__ = ["offered_triggers", "review_hints"]

_REVIEW = "open_supplier_review"


def offered_triggers(tools: Sequence[Any] | None) -> dict[str, dict[str, dict[str, float]]]:
    """Action name → trigger → site → limit, read from the descriptions of the offered tools."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for tool in tools or ():
        function = tool.get("function", tool) if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        found = read_trigger_note(str(function.get("description") or ""))
        if found:
            out[str(function["name"])] = found
    return out


def _rate(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def review_hints(outputs: Sequence[tuple[str, str]], triggers: Mapping[str, Mapping[str, Mapping[str, float]]],
                 line_sites: Mapping[str, str]) -> list[str]:
    """For each scrap_analysis result ``(tool name, content)``: the input lot whose scrap rate exceeds its
    baseline by more than the policy's ``scrap_variance_limit`` at the lines' site, as a suggestion to ask
    for a supplier review (nothing when the action or its trigger is not offered, or the site is unclear)."""
    limits = triggers.get(_REVIEW, {}).get("scrap_variance_limit", {})
    if not limits:
        return []
    hints: list[str] = []
    for name, content in outputs:
        if name != "scrap_analysis":
            continue
        try:
            result = json.loads(content)
        except (TypeError, ValueError):
            continue
        if not isinstance(result, dict) or result.get("status") != "ok":
            continue
        sites = {line_sites.get(str(line)) for line in result.get("line_ids") or []}
        site = sites.pop() if len(sites) == 1 else None
        if site is None:
            continue  # lines of several (or unknown) sites: whose limit applies is unclear, so say nothing
        limit = limits.get(site)
        if limit is None:
            continue
        for lot in result.get("by_input_lot") or []:
            if not isinstance(lot, Mapping) or not lot.get("supplier_id"):
                continue
            rate, baseline = _rate(lot.get("scrap_rate")), _rate(lot.get("baseline_scrap_rate"))
            if rate is None or baseline is None or rate - baseline <= limit:
                continue
            lot_id, supplier = lot.get("lot_id"), lot.get("supplier_id")
            # No figures here: the limit is policy, not plant data, and the grounding check wants every
            # number in an answer to come from the tool results.
            hints.append(f"The scrap rate on {lot_id} exceeds its baseline by more than the supplier-review limit "
                         f"the policy sets for {site}. To open a review of {supplier}, ask me to \"open a supplier "
                         f"review of {supplier} about scrap on {lot_id}\" (it needs approval) "
                         f"{cite(lot_id, supplier)}.")
            break  # the lot where scrap concentrates most is enough to act on
    return hints
