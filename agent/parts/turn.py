"""Parts in a turn: carried on the tool messages that fed the answer, collected and screened with the answer.

The tools step puts a call's parts on its ``ToolMessage`` as the message's artifact (never sent to a model);
the screening step collects them from the turn's messages — so parts follow exactly the results the answer was
grounded on (a degraded turn drops the failed model's results, and their parts with them) — screens them and
hands them to the turn's part sink, passed in the run config like the audit buffer (parts are never stored in
the thread's checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage
from langchain_core.runnables import RunnableConfig

from agent.parts.build import Part, screen_parts
from agent.parts.model import parse_part
from guardrails.screening.screen import Finding, OutputScreening, ScreeningRules, screen_data, screen_output

__all__ = ["PARTS_KEY", "WITHHELD", "artifact", "collect_parts", "part_screen", "part_sink", "parts_summary"]

WITHHELD = "[removed: untrusted text withheld]"
"""What a part shows for plant text the data screening refuses (the model was shown the same)."""

PARTS_KEY = "parts"
"""The key of the part sink in the run config's ``configurable`` and of the parts in a tool message's artifact."""


def artifact(parts: Sequence[Part]) -> dict[str, Any] | None:
    """The artifact of a tool message carrying ``parts`` (JSON, so checkpoints at an approval pause hold them)."""
    return {PARTS_KEY: [p.model_dump(mode="json") for p in parts]} if parts else None


def collect_parts(messages: Sequence[BaseMessage],
                  screen: Callable[[str], OutputScreening]) -> tuple[list[Part], list[Finding]]:
    """The parts on ``messages`` (the turn's), screened; the screening findings for the audit."""
    parts: list[Part] = []
    for message in messages:
        carried = message.artifact if isinstance(message, ToolMessage) else None
        if isinstance(carried, dict):
            parts += [parse_part(p) for p in carried.get(PARTS_KEY, [])]
    return screen_parts(parts, screen) if parts else ([], [])


def part_screen(rules: ScreeningRules, *, masked_fields: frozenset[str],
                asked_text: str) -> Callable[[str], OutputScreening]:
    """The screening of a part's text: plant free text neutralized as the model saw it (data stage), then redacted
    as the answer is (output stage). Only the output findings are returned: the tools step audited the data ones."""
    def screen(text: str) -> OutputScreening:
        data = screen_data(text, rules)
        shown = WITHHELD if data.verdict == "refuse" else data.text
        return screen_output(shown, rules, masked_fields=masked_fields, asked_text=asked_text)
    return screen


def part_sink(config: RunnableConfig) -> list[dict[str, Any]] | None:
    """The turn's part sink, or ``None`` when the run has none (a graph run outside :class:`Copilot`)."""
    sink = config.get("configurable", {}).get(PARTS_KEY)
    return sink if isinstance(sink, list) else None


def parts_summary(parts: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What the answer's audit event says about its parts (nothing when there are none): kind, tool and size."""
    if not parts:
        return {}
    return {"parts": [{"type": p["type"], "tool": p["tool"],
                       "size": len(p["rows"]) if p["type"] == "table" else sum(len(s["points"]) for s in p["series"])}
                      for p in parts]}
