"""Governed actions: proposing one from a plain-language request (answering from the result is in
:mod:`agent.rules.action_answers`).

A request is an imperative ("put LOT-P100-0404 on quality hold, seal failures"): after openers such as 'please',
the question starts with one of the action's verbs and names the words the action needs (hold, review ...). Every
argument comes from the question (record ids the resolver found, quantities and dates typed); a missing or
ambiguous one is asked for. Whether the request runs is decided by the graph's gate and the approvers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from agent.rules.entities import Entities
from agent.rules.request_words import request_words

__all__ = ["ActionRequest", "detect_action", "reason_tail"]

_WORK_ORDERS = re.compile(r"\b(?:work\s*orders?|wos?|jobs?|orders? (?:using|that use|fed|consuming) it|"
                          r"(?:its|their)\s+(?:open\s+)?orders?)\b")
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
# Words before 'N days' that make it a date or a duration, not a shift ('in 3 days', 'within a week').
_NOT_SHIFT = frozenset(("in", "within", "next", "last", "past", "for", "after", "every", "than", "need", "needs",
                        "of", "have", "has"))
_REVIEW_ABOUT = re.compile(r"\b(?:about|regarding|concerning|over|on|sobre|acerca de|respecto a)\s+(?P<reason>.+)$",
                           re.IGNORECASE)

# A date change of a PO named only by its noun ('change the date of the PO').
_UNNAMED_PO_DATE = re.compile(r"\b(?:dates?|promised date)\b.*\b(?:po|purchase order)\b"
                              r"|\b(?:po|purchase order)(?:'s)? (?:line )?(?:promised )?dates?\b")


@dataclass(frozen=True)
class ActionRequest:
    """What a question asks to change: the action, its arguments, or what is missing."""

    action: str
    verb: str
    """The user's verb ('put', 'release' ...), for the decline when the action is not offered."""
    args: dict[str, Any]
    missing: str = ""
    """A clarifying question when an argument is missing or ambiguous (then ``args`` is incomplete)."""
    shift_days: int = 0
    """For a PO date change asked as a shift ('pull in by 3 days'): days added to the line's expected date,
    which only a read of the line gives (``new_promised_date`` is then missing from ``args``)."""


def _verb(text: str, action: str) -> str | None:
    return request_words().verb(text, action)


def reason_tail(text: str, *, about: bool = False) -> str:
    """The user's own words after the request ('..., seal failures', '... while quality investigates'), fillers
    trimmed; with ``about``, also 'about …' (a review's topic). Empty when there are none."""
    words = request_words()
    text = " ".join(text.split())
    match = words.reason.search(text)
    found = match.group("reason") if match else ""
    if match and match.group("kept"):
        found = match.group("kept").strip() + " " + found
    if not found and about:
        about_match = _REVIEW_ABOUT.search(text)
        found = about_match.group("reason") if about_match else ""
    found = words.fillers.sub("", found.strip(" .!?")).strip(" .!?,")
    return found if len(found) >= 3 else ""


def _reason(question: str, user_id: str, default: str, *, about: bool = False) -> str:
    """The user's own words after the request, or a short default."""
    return reason_tail(question, about=about)[:500] or f"{default} requested by {user_id} via copilot"


def _one(entities: Entities, kind: str, what: str) -> tuple[str | None, str]:
    """The single id of ``kind``, or a clarifying question (none named or several named or ambiguous)."""
    for ambiguity in entities.ambiguities:
        if ambiguity.kind == kind:
            options = "; ".join(f"{cid} ({lab})" if lab and lab != cid else cid for cid, lab in ambiguity.candidates)
            return None, f"Which {what} do you mean by \"{ambiguity.phrase}\": {options}?"
    ids = entities.ids.get(kind, ())
    if len(ids) > 1:
        return None, f"I act on one {what} at a time. Which {what} do you mean: {', '.join(ids)}?"
    return (ids[0], "") if ids else (None, "")


def _hold(text: str, question: str, entities: Entities, user: str, release: bool) -> ActionRequest | None:
    action = "release_quality_hold" if release else "place_quality_hold"
    verb = _verb(text, action)
    if verb is None:
        return None
    holdish = re.search(r"\b(?:hold|quarantine|block(?:ed)?|on hold)\b", text)
    if release and not (holdish or verb in ("release", "unblock", "unhold", "unquarantine")):
        return None
    if not release and not (holdish or verb in ("hold", "block", "quarantine", "freeze")):
        return None
    if release and verb == "take" and "off" not in text:
        return None
    lot, problem = _one(entities, "lot", "lot")
    wo, wo_problem = _one(entities, "wo", "work order")
    problem = problem or (wo_problem if not lot else "")
    if problem:
        return ActionRequest(action, verb, {}, problem)
    if not lot and not wo:
        if not holdish and not entities.unknown_ids and not re.search(r"\b(?:lot|work order|wo)\b", text):
            return None  # 'hold on, ...': not about a record at all
        return ActionRequest(action, verb, {}, "Which lot or work order (its id, e.g. LOT-P100-0423 or WO-5123) "
                             f"should I {'release from' if release else 'put on'} quality hold?")
    args: dict[str, Any] = {"reason": _reason(question, user, "Quality hold release" if release
                                              else "Quality hold")}
    if lot:
        args["lot_id"] = lot
        flag = "include_held_work_orders" if release else "include_open_work_orders"
        args[flag] = bool(_WORK_ORDERS.search(text) or wo)
    else:
        args["wo_id"] = wo
    return ActionRequest(action, verb, args)


def _review(text: str, question: str, entities: Entities, user: str,
            sites: Sequence[str]) -> ActionRequest | None:
    verb = _verb(text, "open_supplier_review")
    if verb is None or not request_words().has_nouns(text, "open_supplier_review"):
        return None
    if verb == "open" and not re.match(r"open (?:a|an|new|up\b|(?:\w+ )?(?:review|scar|8d)\b(?!s))", text):
        return None  # 'open supplier reviews': a read; 'open supplier review for S-003': one to open
    supplier, problem = _one(entities, "supplier", "supplier")
    if problem:
        return ActionRequest("open_supplier_review", verb, {}, problem)
    if not supplier:
        return ActionRequest("open_supplier_review", verb, {}, "Which supplier (its name or id, e.g. S-001) should "
                             "the review be for?")
    args: dict[str, Any] = {"supplier_id": supplier,
                            "reason": _reason(question, user, "Supplier review", about=True),
                            "lot_ids": list(entities.ids.get("lot", ())), "qe_ids": list(entities.ids.get("qe", ()))}
    named = entities.ids.get("site", ())
    if len(named) == 1:
        args["site_id"] = named[0]
    elif not args["lot_ids"] and not args["qe_ids"] and len(sites) > 1:
        # Without a linked lot or event the review's site is not implied; the action would refuse it.
        return ActionRequest("open_supplier_review", verb, {}, f"Which site is the review of {supplier} for "
                             f"({' or '.join(sites)}), or which lot or quality event is behind it?")
    return ActionRequest("open_supplier_review", verb, args)


def _maintenance(text: str, question: str, entities: Entities, user: str,
                 asset_of: Callable[[Entities], tuple[str | None, str]]) -> ActionRequest | None:
    verb = _verb(text, "create_maintenance_order")
    if verb is None or not request_words().has_nouns(text, "create_maintenance_order"):
        return None
    if verb == "open" and not re.match(r"open (?:a|an|new|up)\b", text):
        return None
    asset, problem = asset_of(entities)
    action = "create_maintenance_order"
    if problem:
        return ActionRequest(action, verb, {}, problem)
    if not asset:
        return ActionRequest(action, verb, {}, "Which asset (its id, e.g. AS-014, or the machine) is the "
                             "maintenance order for?")
    mo_type = maintenance_type(text) or "corrective"
    priority = maintenance_priority(" ".join(question.lower().split())) or 2  # 'urgently' may be an opener
    description = _reason(question, user, f"{mo_type.capitalize()} maintenance")
    if len(description) < 5:
        description = f"{mo_type} maintenance: {description}"
    return ActionRequest(action, verb, {"asset_id": asset, "mo_type": mo_type, "priority": priority,
                                        "description": description[:1000]})


def maintenance_type(text: str) -> str | None:
    """The maintenance type ``text`` names ('preventive', 'predictive', 'corrective'), if any."""
    named = next((t for t in ("preventive", "predictive", "corrective") if t in text), None)
    return named or ("preventive" if re.search(r"\b(?:pm|inspection|routine)\b", text) else None)


def maintenance_priority(text: str) -> int | None:
    """The priority ``text`` gives ('priority 1', 'p2', 'urgent' → 1), if any."""
    match = re.search(r"\b(?:priority|prio)\s*(?:of\s*|=\s*|:\s*)?([1-4])\b|\bp([1-4])\b", text)
    if match:
        return int(next(g for g in match.groups() if g))
    return 1 if re.search(r"\b(?:urgent|urgently|emergency|asap|immediately|critical)\b", text) else None


def _spares(text: str, question: str, entities: Entities, user: str,
            asset_of: Callable[[Entities], tuple[str | None, str]]) -> ActionRequest | None:
    verb = _verb(text, "reserve_spare_parts")
    if verb is None or not (request_words().has_nouns(text, "reserve_spare_parts")
                            or any(i.startswith("SP-") for i in entities.ids.get("item", ()))):
        return None
    action = "reserve_spare_parts"
    asset, problem = asset_of(entities)
    if problem:
        return ActionRequest(action, verb, {}, problem)
    items = [i for i in entities.ids.get("item", ()) if i.startswith("SP-")] or list(entities.ids.get("item", ()))
    if not asset:
        return ActionRequest(action, verb, {}, "Which asset (its id, e.g. AS-014, or the machine) are the spare "
                             "parts for?")
    if len(items) != 1:
        return ActionRequest(action, verb, {}, f"Ask \"spare parts for {asset}\" to see its list. Which spare part "
                             f"(one item id, e.g. SP-4036) should I reserve for {asset}?")
    args: dict[str, Any] = {"asset_id": asset, "item_id": items[0],
                            "reason": _reason(question, user, "Spare parts reservation")}
    qty = _quantity(text)
    if qty is not None:
        args["qty"] = qty
    return ActionRequest(action, verb, args)


def _quantity(text: str) -> float | int | None:
    """A quantity typed after the verb ('move 500 of ...', 'reserve 2 x SP-4036'), ids left out."""
    text = re.sub(r"\bx\s*(\d+)\b|\b(\d+)\s*x\b", r" \1\2 ", text)  # 'SP-4043 x2', '2x SP-4043'
    stripped = re.sub(r"\b[a-z]+-[a-z0-9-]+(?:/\d+)?\b|\b(?:p\d{3}|line \d+|priority \d)\b", " ", text)
    stripped = _DATE.sub(" ", stripped)
    match = re.search(r"(?<![\w.-])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w-])", stripped)
    if not match:
        # 'reserve two SP-4043': a number word right before the item (not 'a'/'an': 'a SP-…' says nothing)
        numbers = {w: n for w, n in request_words().numbers.items() if w not in ("a", "an")}
        spelled = re.search(rf"\b({'|'.join(map(re.escape, numbers))})\s+(?:[a-z]+\s+){{0,2}}?"
                            rf"(?:fg|cp|rm|sp)-\d{{4}}\b", text)
        return numbers[spelled.group(1)] if spelled else None
    whole = int(match.group(1).replace(",", ""))
    if match.group(2):
        return float(f"{whole}.{match.group(2)}")
    return whole if whole > 0 else None


def _po_line(entities: Entities, what: str, verb: str, action: str) -> tuple[str, int] | ActionRequest:
    """The one PO line named, as (PO id, line number), or the clarifying request when none or several are."""
    lines = entities.ids.get("po_line", ())
    if len(lines) > 1:
        return ActionRequest(action, verb, {}, f"I change one PO line at a time. Which PO line do you mean: "
                             f"{', '.join(lines)}?")
    if not lines:
        po = entities.first("po")
        where = f"of {po} " if po else ""
        return ActionRequest(action, verb, {}, f"Which line {where}(the PO and line, e.g. PO-24017 line 2) should I "
                             f"{what}?")
    po_id, _, line_no = lines[0].partition("/")
    return po_id, int(line_no)


def _po_change(text: str, question: str, entities: Entities, user: str, today: date) -> ActionRequest | None:
    verb = _verb(text, "request_po_date_change")
    if verb is None:
        return None
    if not (entities.ids.get("po") or entities.ids.get("po_line")):
        # 'change the date on the PO' names no PO yet: ask which line rather than read every open PO line.
        if _UNNAMED_PO_DATE.search(text) and not entities.unknown_ids:
            found = _po_line(entities, "re-date", verb, "request_po_date_change")
            return found if isinstance(found, ActionRequest) else None
        return None
    if re.search(r"\bsuppliers?\b", text) and verb in ("move", "change", "switch"):
        return None  # 'move PO-24017 line 2 to supplier S-010' is a supplier switch
    action = "request_po_date_change"
    line = _po_line(entities, "re-date", verb, action)
    if isinstance(line, ActionRequest):
        return line
    dates = _DATE.findall(text)
    period = entities.period
    shift = 0 if dates else _shift(text, verb)
    new_date = dates[-1] if dates else (period.start.isoformat() if period is not None and period.start == period.end
                                        and period.start >= today and not shift else None)
    if new_date is None and not shift:
        return ActionRequest(action, verb, {}, f"To which date (the new promised date, YYYY-MM-DD) should {line[0]} "
                             f"line {line[1]} be moved?")
    default = "Expedite" if verb in ("pull", "expedite", "bring", "advance") else "Promised date change"
    args: dict[str, Any] = {"po_id": line[0], "line_no": line[1], "reason": _reason(question, user, default)}
    if new_date is not None:
        args["new_promised_date"] = new_date
    return ActionRequest(action, verb, args, shift_days=shift)


def _shift(text: str, verb: str) -> int:
    """Days a shift request moves the date ('pull in … by 3 days' → -3; 'push … out a week' → 7), else 0.
    'in 3 days' or 'within a week' name a date, not a shift; the reason tail is not searched."""
    words = request_words()
    body = words.reason.sub("", text)
    number = "|".join(sorted(map(re.escape, words.numbers), key=len, reverse=True))
    units = "|".join(sorted((r"\s+".join(u.split()) for u in words.shift_units), key=len, reverse=True))
    pattern = (rf"(?:\b(?P<pre>[a-z0-9]+)\s+)?\b(?P<n>\d{{1,3}}|{number})\s+(?P<unit>{units})\b"
               rf"(?:\s+(?P<dir>\w+))?")
    for match in re.finditer(pattern, body):
        direction = match.group("dir") or ""
        turned = direction in words.shift_earlier_words | words.shift_later_words
        if not turned and (match.group("pre") in _NOT_SHIFT or direction == "of"):
            continue
        count = int(match.group("n")) if match.group("n").isdigit() else words.numbers[match.group("n")]
        days = count * words.shift_units[" ".join(match.group("unit").split())]
        if direction in words.shift_earlier_words or (not turned and verb in words.shift_earlier):
            return -days
        if direction in words.shift_later_words or verb in words.shift_later:
            return days
    return 0


def _switch(text: str, question: str, entities: Entities, user: str) -> ActionRequest | None:
    verb = _verb(text, "switch_supplier")
    if verb is None or not (entities.ids.get("po") or entities.ids.get("po_line")):
        return None
    named = bool(entities.ids.get("supplier")) and entities.period is None and not _DATE.search(text)
    if not (re.search(r"\bsuppliers?\b|\bs-\d{3}\b", text) or named) or (verb != "switch"
                                                                          and not re.search(r"\bto\b", text)):
        return None  # 'move PO-… line 2 to SealTech': a supplier named by name is a switch too
    action = "switch_supplier"
    line = _po_line(entities, "move to another supplier", verb, action)
    if isinstance(line, ActionRequest):
        return line
    suppliers = list(entities.ids.get("supplier", ()))
    target = re.search(r"\bto\s+(?:supplier\s+)?(s-\d{3})\b", text)
    body = request_words().reason.sub("", text)
    if target and target.group(1).upper() in suppliers:
        supplier: str | None = target.group(1).upper()
    elif re.search(r"\b(?:another|other|different|alternative|alternate|new|backup)\s+(?:supplier|vendor|source)",
                   body):
        supplier = None  # 'to another supplier, Great Lakes is late': the supplier named is the one to leave
    else:
        supplier = suppliers[0] if len(suppliers) == 1 else None
    if supplier is None:
        problem = next((a for a in entities.ambiguities if a.kind == "supplier"), None)
        options = f"; it could be {', '.join(c for c, _ in problem.candidates)}" if problem else ""
        return ActionRequest(action, verb, {}, f"Which supplier (its id, e.g. S-010{options}) should take over "
                             f"{line[0]} line {line[1]}?")
    return ActionRequest(action, verb, {"po_id": line[0], "line_no": line[1], "new_supplier_id": supplier,
                                        "reason": _reason(question, user, "Supplier switch")})


def _reallocate(text: str, question: str, entities: Entities, user: str,
                source_sites: Sequence[str]) -> ActionRequest | None:
    verb = _verb(text, "reallocate_inventory")
    if verb is None or not entities.ids.get("item"):
        return None
    action = "reallocate_inventory"
    item, problem = _one(entities, "item", "item")
    if problem or not item:
        return ActionRequest(action, verb, {}, problem or "Which item should I move?")
    body = request_words().reason.sub("", text)
    from_lot = re.search(r"\bfrom\s+(?:lot\s+)?(lot-p\d{3}-\d{1,5})\b", body)
    lots = entities.ids.get("lot", ())
    lot = from_lot.group(1).upper() if from_lot and from_lot.group(1).upper() in lots else None
    if lot is None and len(lots) == 1:
        lot = lots[0]  # 'of lot LOT-P200-0304' ('del lote …'): stock is only ever moved out of a lot
    from_site = re.search(r"\bfrom\s+(?:site\s+|plant\s+)?(p\d{3})\b", body)
    to_site = re.search(r"\b(?:to|into|for)\s+(?:site\s+|plant\s+)?(p\d{3})\b", body)
    to_wo = re.search(r"\b(?:to|into|for)\s+(?:the\s+)?(?:work order\s+)?(wo-?\d{3,6})\b", body)
    sites = entities.ids.get("site", ())
    source = from_site.group(1).upper() if from_site else (lot.split("-")[1] if lot else None)
    if source is None and to_site is None and len(sites) == 2 and " from " in f" {body} ":
        source = sites[0]
    target_site = to_site.group(1).upper() if to_site else (sites[1] if len(sites) == 2 and source == sites[0]
                                                            and not to_wo else None)
    target_wo = to_wo.group(1).upper().replace("WO", "WO-").replace("WO--", "WO-") if to_wo else None
    if target_site is None and source is None and not target_wo and len(sites) == 1 and re.search(r"\b(?:to|into)\b",
                                                                                                 body):
        target_site = sites[0]  # 'move 500 of CP-2045 over to Monterrey': the one site named is the target
    others = [s for s in source_sites if s != target_site]
    if source is None and target_site and len(others) == 1:
        source = others[0]  # "move 200 of CP-2039 to P200": the only other site the user may move stock from
    qty = _quantity(body)
    missing = [what for what, value in (("the quantity", qty), ("the site it comes from", source),
                                        ("the site or work order it goes to", target_site or target_wo))
               if value is None]
    if missing:
        return ActionRequest(action, verb, {}, f"To move {item} I need {', '.join(missing)}. Could you say it like "
                             f"\"move 500 of {item} from P100 to P200\"?")
    args: dict[str, Any] = {"item_id": item, "qty": qty, "from_site_id": source,
                            "reason": _reason(question, user, "Stock reallocation")}
    if lot:
        args["from_lot_id"] = lot
    if target_wo:
        args["to_wo_id"] = target_wo
    else:
        args["to_site_id"] = target_site
    return ActionRequest(action, verb, args)


def detect_action(question: str, entities: Entities, *, user_id: str, today: date,
                  asset_of: Callable[[Entities], tuple[str | None, str]],
                  sites: Sequence[str] = ()) -> ActionRequest | None:
    """The action ``question`` asks for (``None`` when it is not a request to change something). ``sites``: the
    sites stock may come from when a move names only its target (the user's, or the plant's)."""
    words = request_words()
    text = words.command(question)
    if not text or words.read_start.match(text) or words.noun_use.match(text):
        return None  # a question, a read ('show me …') or a statement ('release of LOT-… was late')
    attempts: Sequence[Callable[[], ActionRequest | None]] = (
        lambda: _spares(text, question, entities, user_id, asset_of),
        lambda: _hold(text, question, entities, user_id, release=True),
        lambda: _review(text, question, entities, user_id, sites),
        lambda: _maintenance(text, question, entities, user_id, asset_of),
        lambda: _switch(text, question, entities, user_id),
        lambda: _po_change(text, question, entities, user_id, today),
        lambda: _hold(text, question, entities, user_id, release=False),
        lambda: _reallocate(text, question, entities, user_id, sites),
    )
    for attempt in attempts:
        found = attempt()
        if found is not None:
            return found
    return None
