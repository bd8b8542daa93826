"""Slot values the planner derives from a whole question rather than from one recognised span.

``@due_days`` (a due-date or scheduling window ahead of today), ``@past_days`` (a look-back), ``@weeks`` (how
many forecast weeks a period covers), ``@direction`` / ``@transfer_site`` (a transfer into or out of the named
site) and the vocabulary's further flags (``@open_only``, ``@late_only``, ``@short_only``, ``@mo_type`` ...) are
computed here so the intent data can name them like any other slot. Everything is a pure function of the
question's entities and the user's context.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set
from datetime import date, timedelta
from typing import Any

from agent.rules.entities import Entities
from agent.rules.periods import Period, future_days, past_args

__all__ = ["FLAG_SLOTS", "SLOT_KINDS", "derived_slot", "due_days", "fill_args", "past_days", "transfer_direction",
           "weeks"]

SLOT_KINDS = {"@item": "item", "@site": "site", "@lot": "lot", "@po": "po", "@supplier": "supplier",
              "@line": "line", "@machine": "machine", "@asset": "asset", "@wo": "wo", "@defect": "defect",
              "@reason": "reason", "@parameter": "parameter", "@so": "so", "@customer": "customer"}
"""Template slots filled with the first entity of a kind."""
FLAG_SLOTS = {"@stock_status": "stock_status", "@wo_status": "wo_status", "@qe_status": "qe_status",
              "@severity": "severity", "@item_type": "item_type", "@abc_class": "abc_class"}
"""Template slots filled with an entity flag."""
_KNOWN_SLOTS = frozenset({*SLOT_KINDS, *FLAG_SLOTS, "@me_buyer", "@future_days", "@window_from", "@window_to",
                          "@lookback_days", "@summary_days"})

_LIST_FILTERS = frozenset({"open_only", "late_only", "so_status"})
_FROM = frozenset({"from", "out"})
_TO = frozenset({"to", "into"})
_RECEIVED = frozenset({"received", "receive", "receiving", "incoming", "inbound", "came", "arrived", "got", "get"})
_SENT = frozenset({"sent", "send", "sending", "outgoing", "outbound", "shipped", "gave", "give"})


def due_days(period: Period | None, today: date) -> int | None:
    """Days ahead a 'due within' window reaches: a calendar week or month that has begun counts its remaining
    days with today ('this week' on a Monday → 7), 'today' is 0, other future periods reach their last day."""
    if period is None:
        return None
    if period.start == period.end == today:
        return 0
    if period.calendar and period.start <= today <= period.end:
        return (period.end - today).days + 1
    return future_days(period, today)


def past_days(period: Period | None, today: date) -> int | None:
    """Days to look back, today included, to reach the start of a past ``period`` ('last 30 days' → 30)."""
    if period is None:
        return None
    if period.rolling_days is not None:
        return period.rolling_days
    if period.start > today:
        return None
    return (today - period.start).days + 1


def weeks(period: Period | None, today: date) -> int | None:
    """How many weeks, from the Monday of today's week, reach the end of a future ``period`` (1-12)."""
    if period is None or period.end < today or period.rolling_days is not None:
        return None
    monday = today - timedelta(days=today.weekday())
    return max(1, min(12, math.ceil((period.end - monday).days / 7)))


def transfer_direction(stems: tuple[str, ...]) -> str | None:
    """'in' or 'out' relative to the first site the question names: 'from P200' is out of it, 'to P200' into it;
    without such a word (or without a site: the one the thread is about), a receiving verb means in and a
    sending one out."""
    if "entsite" in stems:
        at = stems.index("entsite")
        for word in reversed(stems[max(0, at - 3):at]):  # the nearest 'from'/'to' before it ('to the Mexico plant')
            if word in _FROM:
                return "out"
            if word in _TO:
                return "in"
    present: Set[str] = set(stems)
    if present & _RECEIVED:
        return "in"
    if present & _SENT:
        return "out"
    return None


def _flip(direction: str) -> str:
    return "out" if direction == "in" else "in"


def derived_slot(slot: str, entities: Entities, today: date, user_sites: frozenset[str] | None) -> Any:
    """The value of ``slot`` (``None``: not derivable from this question, so the argument is left out)."""
    name = slot[1:]
    if slot == "@due_days":
        return due_days(entities.period, today)
    if slot == "@weeks":
        return weeks(entities.period, today)
    if slot == "@past_days":
        return past_days(entities.period, today)
    if slot == "@fraction":
        percent = float(entities.flags.get("percent") or -1)
        return round(percent / 100, 4) if 0 <= percent <= 100 else None
    if slot in ("@direction", "@transfer_site"):
        site = entities.first("site")
        direction = transfer_direction(entities.stems) if site else None
        if site and direction and user_sites is not None and site not in user_sites and len(user_sites) == 1:
            # 'what did we send to P200' asked at P100: the same transfers, seen from the user's own site.
            site, direction = next(iter(user_sites)), _flip(direction)
        return direction if slot == "@direction" else site
    value = entities.flags.get(name)
    if name in _LIST_FILTERS and entities.has("so"):
        return None  # 'is SO-30166 late?', 'has it shipped?': that order whatever its state, not a filtered list
    if value in ("true", "false"):
        return value == "true"
    return value


def fill_args(template: Mapping[str, Any], entities: Entities, *, today: date, sites: frozenset[str] | None,
              my_buyer: str | None) -> dict[str, Any]:
    """A call template's arguments filled from ``entities``: ``@slot`` values (``@slot|default``), ``@past`` for a
    look-back window, literal values as written; a slot with no value (and no default) is left out. ``my_buyer``:
    the asking user's id when they are a buyer (for 'my POs')."""
    args: dict[str, Any] = {}
    period = entities.period
    for key, spec in template.items():
        if key == "@past":
            args.update(past_args(period, today))
            continue
        if not isinstance(spec, str) or not spec.startswith("@"):
            args[key] = spec
            continue
        slot, _, default = spec.partition("|")
        value: Any = None
        if slot in SLOT_KINDS:
            value = entities.first(SLOT_KINDS[slot])
        elif slot in FLAG_SLOTS:
            value = entities.flags.get(FLAG_SLOTS[slot])
        elif slot == "@me_buyer":
            value = my_buyer if entities.first_person else None
        elif slot == "@future_days":
            value = future_days(period, today)
        elif slot in ("@window_from", "@window_to") and period is not None:
            value = (period.start if slot == "@window_from" else period.end).isoformat()
        elif slot == "@lookback_days" and period is not None and period.start < today:
            value = (today - period.start).days
        elif slot == "@summary_days" and period is not None and period.start <= today:
            value = max(1, min(90, (today - period.start).days + 1))
        elif slot not in _KNOWN_SLOTS:
            value = derived_slot(slot, entities, today, sites)
        if value is None and default:
            value = int(default) if default.isdigit() else default
        if value is not None:
            args[key] = value
    return args
