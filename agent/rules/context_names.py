"""Names a follow-up leaves ambiguous, settled by the previous question's scope.

'is the heat sealer drifting?' after scrap on PK1: every packaging line has a heat sealer, but the thread is about
PK1, so it is PK1's. A candidate is kept when its id lies within a line or site the previous question named; the
name is settled only when exactly one candidate is kept (otherwise the model still asks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from agent.rules.ambiguity import Ambiguity
from agent.rules.entities import Entities

__all__ = ["narrowed_by_context", "settled_by_records"]

_SCOPED = ("machine", "line", "asset", "lot")
"""Kinds whose ids carry their line or site ('M-P100-PK1-02', 'P100-PK1', 'LOT-P100-0424')."""


def narrowed_by_context(entities: Entities, before: Entities) -> Entities:
    """``entities`` with each ambiguity of a line-, site- or machine-bound kind settled by ``before``'s scope."""
    scopes = [*before.ids.get("machine", ()), *before.ids.get("line", ()), *before.ids.get("site", ())]

    def kept(ambiguity: Ambiguity) -> list[str]:
        if ambiguity.kind not in _SCOPED:
            return []
        # The narrowest scope first: the previous machine, then its line, then its site.
        for scope in scopes:
            inside = [cid for cid, _ in ambiguity.candidates if f"{scope}-" in f"{cid}-" or cid == scope]
            if inside:
                return inside
        return []
    return _settled(entities, kept) if scopes else entities


def settled_by_records(entities: Entities, records: Mapping[str, tuple[str, ...]]) -> Entities:
    """``entities`` with each ambiguity settled by the records the previous answer returned: 'the 6 mm plate'
    after a supplier's open lines is the plate on those lines when exactly one candidate is among them."""
    def kept(ambiguity: Ambiguity) -> list[str]:
        shown = set(records.get(ambiguity.kind, ()))
        return [cid for cid, _ in ambiguity.candidates if cid in shown]
    return _settled(entities, kept) if records else entities


def _settled(entities: Entities, kept: Callable[[Ambiguity], list[str]]) -> Entities:
    """``entities`` with each ambiguity whose ``kept`` candidates are exactly one (and whose kind is not already
    named) settled to that candidate; unchanged when none is."""
    ids = dict(entities.ids)
    left = []
    for ambiguity in entities.ambiguities:
        candidates = kept(ambiguity) if not ids.get(ambiguity.kind) else []
        if len(candidates) == 1:
            ids[ambiguity.kind] = (candidates[0],)
        else:
            left.append(ambiguity)
    if len(left) == len(entities.ambiguities):
        return entities
    return replace(entities, ids=ids, ambiguities=tuple(left))
