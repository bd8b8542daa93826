"""Context sentences: in "Ben is out today. What's due from suppliers in the next 3 days?" the sentence that asks
decides what the question is about; the sentences before it only set the scene.

:func:`asking_sentence` finds the sentence that asks; :func:`prefer_asked` lets its entities take precedence over
the scene's: its period wins ('today' in the scene is not the window asked about) and, for a kind both name, its
records come first ('We moved the FG-1025 build forward. Do we run short on CP-2039?' is about CP-2039). Kinds
and periods only the scene names are kept ('Scrap on PK1 was ugly last week. What's driving it?'), except that a
question about what changed since ('The jaws were swapped yesterday. Has the temperature settled?') is about
now: the tool's recent window (which spans the scene's day and today), not the scene's day alone.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.rules.entities import Entities

__all__ = ["asking_sentence", "prefer_asked"]

_CUT = re.compile(r"(?<=[.!?])\s+(?=\S)|\s*\n+\s*")
_SINCE = re.compile(r"\b(?:since|settled?|settling|back to|back in|back into|still|anymore|any better|improved?|"
                    r"recover(?:ed)?|stabili[sz]ed|normal again|desde|sigue|todav[ií]a|ya se)\b", re.IGNORECASE)
_ABBREVIATIONS = frozenset(("e.g.", "i.e.", "approx.", "no.", "vs.", "etc.", "incl.", "nr.", "ref.", "qty."))


def asking_sentence(question: str) -> str | None:
    """The sentence of ``question`` that asks (the last one ending in '?', else the last one), or ``None`` when
    the question is one sentence."""
    pieces: list[str] = []
    for piece in _CUT.split(question.strip()):
        if pieces and pieces[-1].rsplit(" ", 1)[-1].lower() in _ABBREVIATIONS:
            pieces[-1] = f"{pieces[-1]} {piece}"  # 'e.g. P100' does not end a sentence
        elif piece.strip():
            pieces.append(piece.strip())
    if len(pieces) < 2:
        return None
    return next((p for p in reversed(pieces) if p.endswith("?")), pieces[-1])


def prefer_asked(whole: Entities, asked: Entities, asking: str = "", today: date | None = None) -> Entities:
    """``whole`` (the entities of every sentence) with those of the ``asking`` sentence first."""
    ids = dict(whole.ids)
    for kind, values in asked.ids.items():
        ids[kind] = tuple(dict.fromkeys((*values, *ids.get(kind, ()))))
    period = asked.period or whole.period
    if asked.period is None and period is not None and today is not None and period.end < today and (
            _SINCE.search(asking)):
        period = None  # 'has it settled since?': now, not the scene's day
    return replace(whole, ids=ids, period=period)
