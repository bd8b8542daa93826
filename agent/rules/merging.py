"""How a follow-up's entities combine with the previous question's ('and at P200?', 'only the A items', 'what's
SO-30125 worth?'): what the new question names replaces what it stands for, filters it drops are dropped, and the
rest is carried over."""

from __future__ import annotations

import re
from datetime import date, timedelta

from agent.rules.dialogue import Exchange
from agent.rules.entities import Entities
from agent.rules.follow_up_rules import FollowUpRules
from agent.rules.lexicon import PlantLexicon
from agent.rules.periods import Period
from agent.rules.planner import UserContext

__all__ = ["default_window", "merge_entities"]

_SITE_CODE = re.compile(r"(?<![A-Z0-9])P\d{3}(?![0-9])")


def merge_entities(rules: FollowUpRules, lexicon: PlantLexicon, old: Entities, new: Entities, widen: str | None = None,
                   fresh: bool = False, today: date | None = None) -> Entities:
    """``old`` with ``new``'s entities in place: a new record replaces the old records, a new site drops the
    records of the old site, a new line drops the old site, machine and asset; ``widen`` ('site', 'all')
    drops the records of one site (and, for 'all', the site); ``fresh`` drops the old records whatever is new."""
    ids = dict(old.ids)
    if fresh or any(k in rules.record_kinds for k in new.ids):
        for kind in rules.record_kinds:
            ids.pop(kind, None)
    if new.ids.get("site") and set(new.ids["site"]) != set(old.ids.get("site", ())):
        for kind in rules.site_bound:
            ids.pop(kind, None)
    if new.ids.get("line"):
        for kind in ("site", "machine", "asset"):
            ids.pop(kind, None)
    if widen is not None:
        # 'what about the whole plant?' after a line or an asset: its site; 'across both plants': every site.
        home = _home_site(lexicon, ids)
        for kind in rules.site_bound:
            ids.pop(kind, None)
        if widen == "site" and home and not ids.get("site"):
            ids["site"] = (home,)
        elif widen == "all":
            ids.pop("site", None)
    cleared = rules.cleared(new.stems)
    if any(new.ids.get(k) for k in rules.one_record):
        cleared |= {*old.flags, "period"}
        for kind in ("site", "line", "machine"):
            ids.pop(kind, None)  # the record is where it is
    ids.update({k: v for k, v in new.ids.items() if v})
    if today is not None and new.period is not None and new.period.end > today:
        cleared |= {"late_only"}  # a window ahead replaces 'late' ('open ones due in the next 3 days then')
    if "wo_status" in new.flags:
        cleared |= {"late_only"}  # 'held?' after the late ones: another status, not late held ones
    kept = {k: v for k, v in old.flags.items() if k not in cleared and "*" not in cleared}
    period = new.period or (None if "period" in cleared else old.period)
    return Entities(ids=ids, flags={**kept, **new.flags}, period=period,
                    first_person=old.first_person or new.first_person, unknown_ids=new.unknown_ids,
                    ambiguities=new.ambiguities, stems=new.stems)


def _home_site(lexicon: PlantLexicon, ids: dict[str, tuple[str, ...]]) -> str | None:
    """The site of the first site-bound record in ``ids`` (an asset's from the plant's master data)."""
    for kind in ("line", "machine", "asset", "lot", "wo", "qe", "so", "po", "po_line"):
        for record in ids.get(kind, ()):
            asset = lexicon.asset(record) if kind == "asset" else None
            site = asset.site_id if asset is not None else _site_in(record)
            if site:
                return site
    return None


def _site_in(record_id: str) -> str | None:
    """The site code a record id carries ('P100-PK1', 'M-P100-MC1-02', 'LOT-P200-0301'), if any."""
    match = _SITE_CODE.search(record_id)
    return match.group(0) if match else None


_AHEAD_ARGS = frozenset(("weeks", "horizon_days", "due_within_days", "scheduled_within_days"))
"""Arguments of tools that look ahead: a bare span after them ('a 8 semanas') reaches forward."""


def default_window(last: Exchange, ctx: UserContext) -> Period:
    """The direction of the last turn's calls when it named no period: ahead for a tool that looks ahead (its
    schema takes a horizon), else back."""
    props = [ctx.schemas.get(c.name, {}).get("properties", {}) for c in last.calls]
    ahead = any(isinstance(p, dict) and k in p for p in props for k in _AHEAD_ARGS)
    today = ctx.today
    return Period(today, today + timedelta(days=1)) if ahead else Period(today - timedelta(days=1), today)
