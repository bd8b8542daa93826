"""Governed actions: proposing one from a plain-language request (answering from the result is in
:mod:`agent.rules.action_answers`).

A request is an imperative ("put LOT-P100-0404 on quality hold, seal failures", "pull in PO-24017 line 2
to 2026-03-05"): after openers such as 'please' or 'can you', the question starts with one of the action's
verbs and names the words the action needs (hold, review, maintenance ...). Every argument comes from the
question: record ids the resolver found in the plant, quantities and dates typed by the user. When one is
missing or ambiguous the model asks instead of guessing. Whether the request runs is not decided here:
the graph's gate and the approvers do that, and the result (or refusal) comes back as a tool message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from agent.rules.entities import Entities

__all__ = ["ActionRequest", "detect_action"]

_OPENERS = re.compile(
    r"^(?:(?:please|pls|kindly|ok|okay|now|then|just|so|hey|hi|"
    r"(?:can|could|would|will) you(?: please)?|go ahead and|i want you to|i need you to|i'd like you to|"
    r"i want to|i'd like to|i would like to|we need to|we should|let's|lets|let us)[\s,]+)+")
_WORK_ORDERS = re.compile(r"\b(?:work\s*orders?|wos?|jobs?|orders? (?:using|that use|fed|consuming) it)\b")
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
# The user's reason after the request, in English or Spanish ("…, hay rebabas", "… por falta de material").
_REASON = re.compile(r"(?:\s*[;:]\s+|,\s+|\s+(?:-|—)\s+|\s+(?:because(?: of)?|due to|since|as)\s+|"
                     r"\s+(?:porque|debido a|ya que|por(?!\s+favor\b))\s+|"
                     r"\s*\b(?:reason|motivo|raz[oó]n)(?:\s+is|\s+es)?\s*[:=]?\s+)(?P<reason>.+)$", re.IGNORECASE)
_REVIEW_ABOUT = re.compile(r"\b(?:about|regarding|concerning|over|on|sobre|acerca de|respecto a)\s+(?P<reason>.+)$",
                           re.IGNORECASE)


@dataclass(frozen=True)
class ActionRequest:
    """What a question asks to change: the action, its arguments, or what is missing."""

    action: str
    verb: str
    """The user's verb ('put', 'release' ...), for the decline when the action is not offered."""
    args: dict[str, Any]
    missing: str = ""
    """A clarifying question when an argument is missing or ambiguous (then ``args`` is incomplete)."""


def _command(question: str) -> str:
    text = " ".join(question.lower().replace("’", "'").split())
    return _OPENERS.sub("", text).strip()


def _verb(text: str, *verbs: str) -> str | None:
    for verb in verbs:
        if re.match(rf"{verb}\b", text):
            return verb.split("\\")[0].split(" ")[0]
    return None


def _reason(question: str, user_id: str, default: str, *, about: bool = False) -> str:
    """The user's own words after the request ('..., seal failures'), or a short default."""
    text = " ".join(question.split())
    match = _REASON.search(text)
    found = match.group("reason") if match else ""
    if not found and about:
        about_match = _REVIEW_ABOUT.search(text)
        found = about_match.group("reason") if about_match else ""
    found = found.strip(" .!?")
    if len(found) < 3:
        return f"{default} requested by {user_id} via copilot"
    return found[:500]


def _one(entities: Entities, kind: str, what: str) -> tuple[str | None, str]:
    """The single id of ``kind``, or a clarifying question (none named or several named or ambiguous)."""
    for ambiguity in entities.ambiguities:
        if ambiguity.kind == kind:
            options = "; ".join(f"{cid} ({lab})" if lab and lab != cid else cid for cid, lab in ambiguity.candidates)
            return None, f"Which {what} do you mean by \"{ambiguity.phrase}\"? It could be: {options}."
    ids = entities.ids.get(kind, ())
    if len(ids) > 1:
        return None, f"Which {what} do you mean: {', '.join(ids)}? I act on one at a time."
    return (ids[0], "") if ids else (None, "")


def _hold(text: str, question: str, entities: Entities, user: str, release: bool) -> ActionRequest | None:
    action = "release_quality_hold" if release else "place_quality_hold"
    verbs = (("release", "lift", "remove", "clear", "end", "take", "unblock", "unhold", "free") if release else
             ("put", "place", "hold", "block", "quarantine", "freeze", "set"))
    verb = _verb(text, *verbs)
    if verb is None:
        return None
    holdish = re.search(r"\b(?:hold|quarantine|block(?:ed)?|on hold)\b", text)
    if release and not (holdish or verb in ("release", "unblock", "unhold")):
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
        return ActionRequest(action, verb, {}, "Which lot or work order should I "
                             f"{'release from' if release else 'put on'} quality hold? Please give its id "
                             "(e.g. LOT-P100-0423 or WO-5123).")
    args: dict[str, Any] = {"reason": _reason(question, user, "Quality hold release" if release
                                              else "Quality hold")}
    if lot:
        args["lot_id"] = lot
        flag = "include_held_work_orders" if release else "include_open_work_orders"
        args[flag] = bool(_WORK_ORDERS.search(text) or wo)
    else:
        args["wo_id"] = wo
    return ActionRequest(action, verb, args)


def _review(text: str, question: str, entities: Entities, user: str) -> ActionRequest | None:
    verb = _verb(text, "open", "start", "raise", "create", "launch", "initiate", "request", "file", "kick off")
    if verb is None or not re.search(r"\breview\b", text):
        return None
    if verb == "open" and not re.match(r"open (?:a|an|new|up)\b", text):
        return None  # 'open supplier reviews': a read
    supplier, problem = _one(entities, "supplier", "supplier")
    if problem:
        return ActionRequest("open_supplier_review", verb, {}, problem)
    if not supplier:
        return ActionRequest("open_supplier_review", verb, {}, "Which supplier should the review be for? Please "
                             "give its name or id (e.g. S-001).")
    args: dict[str, Any] = {"supplier_id": supplier,
                            "reason": _reason(question, user, "Supplier review", about=True),
                            "lot_ids": list(entities.ids.get("lot", ())), "qe_ids": list(entities.ids.get("qe", ()))}
    return ActionRequest("open_supplier_review", verb, args)


def _maintenance(text: str, question: str, entities: Entities, user: str,
                 asset_of: Callable[[Entities], tuple[str | None, str]]) -> ActionRequest | None:
    verb = _verb(text, "create", "raise", "open", "book", "log", "schedule", "file", "issue", "make", "submit",
                 "put in", "add", "plan")
    if verb is None or not re.search(r"\b(?:maintenance|repair|mo|work request|service order)\b", text):
        return None
    if verb == "open" and not re.match(r"open (?:a|an|new|up)\b", text):
        return None
    asset, problem = asset_of(entities)
    action = "create_maintenance_order"
    if problem:
        return ActionRequest(action, verb, {}, problem)
    if not asset:
        return ActionRequest(action, verb, {}, "Which asset is the maintenance order for? Please give its id "
                             "(e.g. AS-014) or the machine.")
    mo_type = next((t for t in ("preventive", "predictive", "corrective") if t in text), None)
    if mo_type is None:
        mo_type = "preventive" if re.search(r"\b(?:pm|inspection|routine)\b", text) else "corrective"
    priority_match = re.search(r"\b(?:priority|prio)\s*(?:of\s*|=\s*|:\s*)?([1-4])\b|\bp([1-4])\b", text)
    priority = int(next(g for g in priority_match.groups() if g)) if priority_match else (
        1 if re.search(r"\b(?:urgent|emergency|asap|immediately)\b", text) else 2)
    description = _reason(question, user, f"{mo_type.capitalize()} maintenance")
    if len(description) < 5:
        description = f"{mo_type} maintenance: {description}"
    return ActionRequest(action, verb, {"asset_id": asset, "mo_type": mo_type, "priority": priority,
                                        "description": description[:1000]})


def _spares(text: str, question: str, entities: Entities, user: str,
            asset_of: Callable[[Entities], tuple[str | None, str]]) -> ActionRequest | None:
    verb = _verb(text, "reserve", "book", "allocate", "earmark", "set aside", "hold", "put aside", "block")
    if verb is None or not (re.search(r"\b(?:spares?|spare parts?|parts?)\b", text)
                            or any(i.startswith("SP-") for i in entities.ids.get("item", ()))):
        return None
    action = "reserve_spare_parts"
    asset, problem = asset_of(entities)
    if problem:
        return ActionRequest(action, verb, {}, problem)
    items = [i for i in entities.ids.get("item", ()) if i.startswith("SP-")] or list(entities.ids.get("item", ()))
    if not asset:
        return ActionRequest(action, verb, {}, "Which asset are the spare parts for? Please give its id "
                             "(e.g. AS-014) or the machine.")
    if len(items) != 1:
        return ActionRequest(action, verb, {}, f"Which spare part should I reserve for {asset}? Please give one "
                             f"item id (e.g. SP-4036); ask \"spare parts for {asset}\" to see its list.")
    args: dict[str, Any] = {"asset_id": asset, "item_id": items[0],
                            "reason": _reason(question, user, "Spare parts reservation")}
    qty = _quantity(text)
    if qty is not None:
        args["qty"] = qty
    return ActionRequest(action, verb, args)


def _quantity(text: str) -> float | int | None:
    """A quantity typed after the verb ('move 500 of ...', 'reserve 2 x SP-4036'), ids left out."""
    stripped = re.sub(r"\b[a-z]+-[a-z0-9-]+(?:/\d+)?\b|\b(?:p\d{3}|line \d+|priority \d)\b", " ", text)
    stripped = _DATE.sub(" ", stripped)
    match = re.search(r"(?<![\w.-])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w-])", stripped)
    if not match:
        return None
    whole = int(match.group(1).replace(",", ""))
    if match.group(2):
        return float(f"{whole}.{match.group(2)}")
    return whole if whole > 0 else None


def _po_line(entities: Entities, what: str, verb: str, action: str) -> tuple[str, int] | ActionRequest:
    """The one PO line named, as (PO id, line number), or the clarifying request when none or several are."""
    lines = entities.ids.get("po_line", ())
    if len(lines) > 1:
        return ActionRequest(action, verb, {}, f"Which PO line do you mean: {', '.join(lines)}? I change one at "
                             "a time.")
    if not lines:
        po = entities.first("po")
        where = f"of {po} " if po else ""
        return ActionRequest(action, verb, {}, f"Which line {where}should I {what}? Please give the PO and line, "
                             "e.g. PO-24017 line 2.")
    po_id, _, line_no = lines[0].partition("/")
    return po_id, int(line_no)


def _po_change(text: str, question: str, entities: Entities, user: str, today: date) -> ActionRequest | None:
    verb = _verb(text, "pull in", "pull forward", "pull", "push out", "push back", "push", "bring forward",
                 "bring in", "expedite", "delay", "postpone", "defer", "reschedule", "move", "change", "set",
                 "update", "request")
    if verb is None or not (entities.ids.get("po") or entities.ids.get("po_line")):
        return None
    if re.search(r"\bsuppliers?\b", text) and verb in ("move", "change", "switch"):
        return None  # 'move PO-24017 line 2 to supplier S-010' is a supplier switch
    action = "request_po_date_change"
    line = _po_line(entities, "re-date", verb, action)
    if isinstance(line, ActionRequest):
        return line
    dates = _DATE.findall(text)
    period = entities.period
    new_date = dates[-1] if dates else (period.start.isoformat() if period is not None and period.start == period.end
                                        and period.start >= today else None)
    if new_date is None:
        return ActionRequest(action, verb, {}, f"To which date should {line[0]} line {line[1]} be moved? Please "
                             "give the new promised date (YYYY-MM-DD).")
    default = "Expedite" if verb in ("pull", "expedite", "bring") else "Promised date change"
    reason = _reason(question, user, default)
    return ActionRequest(action, verb, {"po_id": line[0], "line_no": line[1], "new_promised_date": new_date,
                                        "reason": reason})


def _switch(text: str, question: str, entities: Entities, user: str) -> ActionRequest | None:
    verb = _verb(text, "switch", "move", "change", "transfer", "reassign", "re-source", "resource", "give")
    if verb is None or not (entities.ids.get("po") or entities.ids.get("po_line")):
        return None
    if not re.search(r"\bsuppliers?\b|\bs-\d{3}\b", text) or (verb != "switch" and not re.search(r"\bto\b", text)):
        return None
    action = "switch_supplier"
    line = _po_line(entities, "move to another supplier", verb, action)
    if isinstance(line, ActionRequest):
        return line
    suppliers = list(entities.ids.get("supplier", ()))
    target = re.search(r"\bto\s+(?:supplier\s+)?(s-\d{3})\b", text)
    if target and target.group(1).upper() in suppliers:
        supplier: str | None = target.group(1).upper()
    else:
        supplier = suppliers[0] if len(suppliers) == 1 else None
    if supplier is None:
        problem = next((a for a in entities.ambiguities if a.kind == "supplier"), None)
        options = f" It could be: {', '.join(c for c, _ in problem.candidates)}." if problem else ""
        return ActionRequest(action, verb, {}, f"Which supplier should take over {line[0]} line {line[1]}? "
                             f"Please give its id (e.g. S-010).{options}")
    return ActionRequest(action, verb, {"po_id": line[0], "line_no": line[1], "new_supplier_id": supplier,
                                        "reason": _reason(question, user, "Supplier switch")})


def _reallocate(text: str, question: str, entities: Entities, user: str) -> ActionRequest | None:
    verb = _verb(text, "move", "transfer", "reallocate", "re-allocate", "shift", "send", "allocate", "issue",
                 "give", "ship")
    if verb is None or not entities.ids.get("item"):
        return None
    action = "reallocate_inventory"
    item, problem = _one(entities, "item", "item")
    if problem or not item:
        return ActionRequest(action, verb, {}, problem or "Which item should I move?")
    body = _REASON.sub("", text)
    from_lot = re.search(r"\bfrom\s+(?:lot\s+)?(lot-p\d{3}-\d{1,5})\b", body)
    lot = from_lot.group(1).upper() if from_lot and from_lot.group(1).upper() in entities.ids.get("lot", ()) else None
    from_site = re.search(r"\bfrom\s+(?:site\s+|plant\s+)?(p\d{3})\b", body)
    to_site = re.search(r"\b(?:to|into|for)\s+(?:site\s+|plant\s+)?(p\d{3})\b", body)
    to_wo = re.search(r"\b(?:to|into|for)\s+(?:work order\s+)?(wo-?\d{3,6})\b", body)
    sites = entities.ids.get("site", ())
    source = from_site.group(1).upper() if from_site else (lot.split("-")[1] if lot else None)
    if source is None and to_site is None and len(sites) == 2 and " from " in f" {body} ":
        source = sites[0]
    target_site = to_site.group(1).upper() if to_site else (sites[1] if len(sites) == 2 and source == sites[0]
                                                            and not to_wo else None)
    target_wo = to_wo.group(1).upper().replace("WO", "WO-").replace("WO--", "WO-") if to_wo else None
    qty = _quantity(body)
    missing = [what for what, value in (("the quantity", qty), ("the site it comes from", source),
                                        ("the site or work order it goes to", target_site or target_wo))
               if value is None]
    if missing:
        return ActionRequest(action, verb, {}, f"To move {item} I need {', '.join(missing)}. For example: "
                             f"\"move 500 of {item} from P100 to P200\".")
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
                  asset_of: Callable[[Entities], tuple[str | None, str]], said: str | None = None
                  ) -> ActionRequest | None:
    """The action ``question`` asks for (``None`` when it is not a request to change something).

    ``said`` is the request as the user typed it when ``question`` is its English rewording (a Spanish
    request): reasons and descriptions keep the user's own words.
    """
    text = _command(question)
    question = question if said is None else said
    if not text or re.match(r"(?:is|are|was|were|do|does|did|has|have|which|what|who|where|when|why|how|show|"
                            r"list|tell|give me|find|get)\b", text):
        return None
    attempts: Sequence[Callable[[], ActionRequest | None]] = (
        lambda: _spares(text, question, entities, user_id, asset_of),
        lambda: _hold(text, question, entities, user_id, release=True),
        lambda: _review(text, question, entities, user_id),
        lambda: _maintenance(text, question, entities, user_id, asset_of),
        lambda: _switch(text, question, entities, user_id),
        lambda: _po_change(text, question, entities, user_id, today),
        lambda: _hold(text, question, entities, user_id, release=False),
        lambda: _reallocate(text, question, entities, user_id),
    )
    for attempt in attempts:
        found = attempt()
        if found is not None:
            return found
    return None
