"""Formatting helpers for answers: numbers as the tools gave them, citations, dates, quoted data, and the
rows and objects read from a tool result."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["as_of_line", "cite", "data_text", "day", "join", "label", "mapping_of", "more", "num", "open_values",
           "pct", "rows_of", "signed", "when", "withheld_values"]

_BLOCK = re.compile(r"<<<DATA [0-9a-f]+[^>]*>>>\n?(.*?)\n?<<<END DATA [0-9a-f]+>>>", re.S)


def num(value: Any) -> str:
    """A quantity exactly as returned, with thousands separators ('12,042', '12.35'); 'n/a' when missing."""
    if value is None or isinstance(value, bool):
        return "n/a"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if isinstance(value, float):
        text = f"{value:,}"
        if "e" not in text and len(text.partition(".")[2]) > 4:
            # Float noise (126.12100000000001): three decimals still match the value within the guard's tolerance.
            text = f"{value:,.3f}".rstrip("0").rstrip(".")
        return text
    return str(value)


def signed(value: Any) -> str:
    """A quantity with its sign ('+500', '-1,200')."""
    text = num(value)
    return text if text.startswith("-") or text == "n/a" else "+" + text


def pct(rate: Any) -> str:
    """A 0..1 rate as a percentage with one decimal ('8.0%'); 'n/a' when missing."""
    if rate is None or isinstance(rate, bool) or not isinstance(rate, (int, float)):
        return "n/a"
    return f"{rate * 100:.1f}%"


def cite(*ids: Any) -> str:
    """Record ids in brackets ('[PO-24017/2, LOT-P100-0423]'); empty when there are none."""
    unique = list(dict.fromkeys(str(i) for i in ids if i))
    return f"[{', '.join(unique)}]" if unique else ""


def data_text(value: Any) -> str | None:
    """The content of a spotlighted data field, as data: the inner text of its ``<<<DATA`` block.

    Withheld or neutralised text gives ``None`` (nothing to quote). Plain strings are returned as they are.
    """
    if value is None:
        return None
    text = str(value)
    match = _BLOCK.search(text)
    if match:
        text = match.group(1)
    text = " ".join(text.split())
    if not text or "[removed" in text:
        return None
    return text


def label(value: Any) -> str:
    """A short quoted name or note from free text: its words up to the first figure ('Spindle bearing set…').

    Figures inside free text are not evidence the output guard accepts (only the results' numeric fields
    are), so they are left out rather than repeated.
    """
    text = data_text(value)
    if not text:
        return ""
    kept: list[str] = []
    for word in text.split():
        if re.match(r"^\W*\d", word):
            return " ".join(kept).rstrip(",;:") + "…" if kept else ""
        kept.append(word)
    return " ".join(kept)


def day(value: Any) -> str:
    """The date part of an ISO date or datetime."""
    return str(value)[:10] if value else "n/a"


def when(value: Any) -> str:
    """An ISO datetime as 'YYYY-MM-DD HH:MM'."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else (text or "n/a")


def as_of_line(as_of: str) -> str:
    """The one sentence stating the data's as-of time."""
    return f"Data as of {when(as_of)}."


def more(shown: int, total: int) -> str:
    """A note that only the first rows of ``total`` are listed (the count shown is the tool's own total)."""
    return f"Only the first ones of the {num(total)} are listed." if total > shown else ""


def join(parts: Iterable[str], sep: str = "; ") -> str:
    """Non-empty parts joined."""
    return sep.join(p for p in parts if p)


def rows_of(result: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The objects in the list at ``key`` of a tool result; empty when it is missing or not a list."""
    value = result.get(key)
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def mapping_of(result: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The object at ``key`` of a tool result; empty when it is missing or not an object."""
    value = result.get(key)
    return value if isinstance(value, Mapping) else {}


def withheld_values(withheld: Any, what: str) -> list[str]:
    """A clause per currency whose ``what`` (e.g. 'open value') a tool withheld, saying why instead of a figure:
    'the USD open value is withheld: fewer than 3 lines contribute (…)'."""
    out = []
    for currency, why in sorted(withheld.items()) if isinstance(withheld, Mapping) else ():
        reason = data_text(why.get("reason")) if isinstance(why, Mapping) else None
        out.append(f"the {currency} {what} is {(reason or 'withheld').rstrip('.')}")
    return out


def open_values(values: Any, withheld: Any, what: str = "open value") -> list[str]:
    """'Open value: USD 1,234.5, MXN 98.' for the totals a tool gave (a total it withheld is null and never
    printed), then a sentence on why each withheld one is withheld."""
    shown = sorted((c, v) for c, v in values.items() if v is not None) if isinstance(values, Mapping) else []
    out = [f"{what[:1].upper()}{what[1:]}: " + ", ".join(f"{c} {num(v)}" for c, v in shown) + "."] if shown else []
    return out + [f"{clause[:1].upper()}{clause[1:]}." for clause in withheld_values(withheld, what)]
