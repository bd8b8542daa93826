"""Policy triggers: limits in an action's policy that tell the copilot when to propose the action.

A trigger never executes or approves anything (routing and the approvers still do that); it is guidance
the copilot is given with the action's schema. Every trigger is a limit where lower is stricter, so a
domain or plant layer may only lower it. The copilot reads the limits from one line of the action's
description (:func:`trigger_note`); :func:`read_trigger_note` parses it back, so a deterministic model
reads exactly what an LLM is told.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["TRIGGER_KINDS", "ActionTriggers", "TriggerKind", "read_trigger_note", "trigger_note"]


@dataclass(frozen=True)
class TriggerKind:
    """A trigger the policy may set, and what it means for the copilot."""

    name: str
    when: str
    """When to propose the action, with ``{limit}`` standing for the limit (plain text for the model)."""


TRIGGER_KINDS: Mapping[str, TriggerKind] = {
    "scrap_variance_limit": TriggerKind(
        "scrap_variance_limit",
        "propose it when an input lot's scrap rate exceeds its baseline scrap rate by more than {limit} "
        "(rates as fractions, as scrap_analysis gives them in by_input_lot; the limit of the lot's site)"),
}
"""Every trigger the ``actions:`` policy section accepts."""

_NOTE = re.compile(r"^Policy trigger (?P<name>[a-z_]+): (?P<limits>[A-Za-z0-9*_-]+=[0-9.]+(?:, [A-Za-z0-9*_-]+="
                   r"[0-9.]+)*)(?: —|$)", re.MULTILINE)


@dataclass(frozen=True)
class ActionTriggers:
    """The trigger limits of one action as they apply to one user: trigger name → site → limit."""

    action: str
    limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def limit(self, name: str, site: str) -> float | None:
        """The limit of trigger ``name`` for data of ``site`` (``None`` when the policy sets none there)."""
        return self.limits.get(name, {}).get(site)

    def note(self) -> str:
        """The lines added to the action's description for the model (empty without triggers)."""
        return trigger_note(self.limits)


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def trigger_note(limits: Mapping[str, Mapping[str, float]]) -> str:
    """``Policy trigger scrap_variance_limit: P100=0.05, P200=0.03 — propose it when ...``, one line per trigger."""
    lines = []
    for name in sorted(limits):
        per_site = limits[name]
        if not per_site:
            continue
        kind = TRIGGER_KINDS.get(name)
        values = ", ".join(f"{site}={_number(v)}" for site, v in sorted(per_site.items()))
        when = kind.when.format(limit="the limit") if kind is not None else "see the policy"
        lines.append(f"Policy trigger {name}: {values} — {when}.")
    return "\n".join(lines)


def read_trigger_note(description: str) -> dict[str, dict[str, float]]:
    """The limits written by :func:`trigger_note` in an action description (trigger → site → limit)."""
    found: dict[str, dict[str, float]] = {}
    for match in _NOTE.finditer(description or ""):
        per_site = found.setdefault(match.group("name"), {})
        for pair in match.group("limits").split(", "):
            site, _, value = pair.partition("=")
            try:
                per_site[site] = float(value)
            except ValueError:
                continue
    return found
