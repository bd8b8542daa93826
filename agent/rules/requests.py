"""Requests with context: the imperative request in a message is its intent; the sentences around it are its reason.

"The seal jaws on PK1 keep failing. Please hold LOT-P100-0411 while quality investigates." asks for one thing — a
quality hold — and says why. The message is cut into clauses (sentences, and a sentence again before a polite
opener or an action verb that follows a comma, a dash or a conjunction); each clause is a request (it starts with
an action's verb, :func:`agent.rules.actions.detect_action`), an informational part (a question or a read such
as "show me …"), or context. Arguments come from the request clause's own entities, and from the whole message
only when the clause lacks them ("… lot 0411 leaks. Please put it on hold."). The reason is the context clauses
and the request's own tail ("… while quality investigates"), trimmed and capped; the informational part is
answered beside the request by the planner (a refusal there never stops the request).

Everything here only proposes: the gate and the approvers decide whether a request runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from agent.rules.actions import ActionRequest, maintenance_priority, maintenance_type, reason_tail
from agent.rules.entities import Entities
from agent.rules.request_words import RequestWords, request_words

__all__ = ["RequestSplit", "answer_reason", "find_requests", "own_words", "own_words_reason", "split_clauses"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")
_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|those|these|this|that|the same)\b", re.IGNORECASE)
_MAX_REQUESTS = 3
_TARGETS = ("lot_id", "wo_id", "po_id", "supplier_id", "asset_id", "item_id")

Extract = Callable[[str], Entities]
Detect = Callable[[str, Entities], ActionRequest | None]


@dataclass(frozen=True)
class RequestSplit:
    """The request(s) of a message, its informational part and what was used to understand them."""

    requests: tuple[ActionRequest, ...]
    info: str = ""
    """The informational part (questions, reads), with the request's record ids added when it only points at
    them ('what do they cost'); empty when there is none."""
    unknown_ids: tuple[str, ...] = ()
    """Ids typed in the request clauses that do not exist in the plant."""
    single: bool = False
    """The whole message is one request clause (nothing around it)."""


def _sentences(text: str, words: RequestWords) -> list[str]:
    """``text`` cut into sentences (not after abbreviations such as 'e.g.' or 'no.')."""
    out: list[str] = []
    for piece in _SENTENCE.split(text.strip()):
        last = out[-1].rstrip(".").rsplit(" ", 1)[-1].lower() if out else ""
        if out and out[-1].endswith(".") and last in words.abbreviations:
            out[-1] = f"{out[-1]} {piece}"
        elif piece.strip():
            out.append(piece.strip())
    return out


def _candidate(command: str, words: RequestWords) -> bool:
    """True when a clause (openers removed) may be a request: it starts with an action verb used as a verb."""
    return bool(words.any_verb.match(command) and not words.read_start.match(command)
                and not words.noun_use.match(command))


_STATED = frozenset(("is", "are", "was", "were", "has", "have", "had", "do", "does", "did"))
"""Clause starts that ask only with a question mark: without one it is a statement ('…, is making noise')."""


def _asks(clause: str, command: str, words: RequestWords) -> bool:
    if clause.rstrip().endswith("?"):
        return True
    first = command.split(" ", 1)[0] if command else ""
    return first not in _STATED and bool(words.read_start.match(command))


def split_clauses(text: str, extract: Extract | None = None) -> list[str]:
    """``text`` cut into clauses: sentences, and a sentence again where a request or question starts after a
    comma, dash or conjunction. A cut is kept only when it separates a request (led by an opener such as
    'please', or naming its own records) from what surrounds it, so "hold LOT-… and its open work orders"
    stays one clause. ``extract`` (entities of a text) tells whether a bare verb names its own records."""
    words = request_words()
    clauses: list[str] = []
    for sentence in _sentences(text.replace("’", "'"), words):
        cuts = list(words.split.finditer(sentence))
        if not cuts:
            clauses.append(sentence)
            continue
        starts = [0, *(c.end() for c in cuts)]
        ends = [*(c.start() for c in cuts), len(sentence)]
        pieces = [(a, b) for a, b in zip(starts, ends, strict=True)]
        current = pieces[0]
        for start, end in pieces[1:]:
            left, right = sentence[current[0]:current[1]], sentence[start:end]
            if _keeps_cut(left, right, words, extract):
                clauses.append(left.strip(" ,;:-—–("))
                current = (start, end)
            else:
                current = (current[0], end)
        clauses.append(sentence[current[0]:current[1]].strip(" ,;:-—–("))
    return [c for c in clauses if c]


def _keeps_cut(left: str, right: str, words: RequestWords, extract: Extract | None) -> bool:
    right_command = words.command(right)
    left_command = words.command(left)
    if not left_command:
        return False  # 'Could you | please put …': openers only, they belong to what follows
    if _candidate(right_command, words):
        # A bare verb after a request ('hold LOT-… and block its work orders') continues it unless it names its
        # own records; after anything else ('… short at P200, move it over please') it starts the request.
        return (words.has_opener(right) or not _candidate(left_command, words)
                or _other_action(left_command, right_command, words)
                or (extract is not None and bool(_record_ids(extract(right)))))
    return _asks(right, right_command, words) and _candidate(left_command, words)


def _other_action(left: str, right: str, words: RequestWords) -> bool:
    """True when ``right`` names an action ``left`` does not ('hold it | and open a supplier review')."""
    return any(p.search(right) and not p.search(left) for p in words.nouns.values())


def _record_ids(entities: Entities) -> list[str]:
    return [i for kind, ids in entities.ids.items() if kind not in ("site", "period") for i in ids]


def _filled(clause: Entities, whole: Entities) -> Entities:
    """The clause's entities, with kinds it lacks taken from the whole message (a pronoun's referent)."""
    ids = {**whole.ids, **{k: v for k, v in clause.ids.items() if v}}
    taken = {k for k, v in clause.ids.items() if v}
    ambiguities = (*clause.ambiguities, *(a for a in whole.ambiguities if a.kind not in taken))
    return Entities(ids=ids, flags={**whole.flags, **clause.flags}, period=clause.period or whole.period,
                    first_person=clause.first_person or whole.first_person,
                    unknown_ids=tuple(dict.fromkeys((*clause.unknown_ids, *whole.unknown_ids))),
                    ambiguities=ambiguities, stems=clause.stems)


def _detect(clause: str, whole: Entities, extract: Extract, detect: Detect) -> tuple[ActionRequest | None, Entities]:
    """The request of ``clause``: with its own entities, else with the whole message's filling the gaps."""
    own = extract(clause)
    found = detect(clause, own)
    if found is not None and not found.missing:
        return found, own
    filled = _filled(own, whole)
    again = detect(clause, filled)
    if again is not None and (not again.missing or found is None):
        return again, filled
    return found, own


def _clean(piece: str, words: RequestWords) -> str:
    """A reason piece without greetings, fillers and end punctuation ('' when nothing is left)."""
    text = " ".join(piece.split())
    if words.greeting.match(text) and len(text.split()) <= 6:
        return ""
    text = words.salutation.sub("", text)
    text = words.reason_lead.sub("", words.fillers.sub("", text)).strip(" ,;:.!-—–")
    return text if len(text) >= 3 else ""


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def _with_context(request: ActionRequest, clause: str, context: Sequence[tuple[int, str]], position: int,
                  whole: Entities, words: RequestWords) -> ActionRequest:
    """``request`` with the message's context as its reason (or description), in message order."""
    if request.missing:
        return request
    key = "description" if request.action == "create_maintenance_order" else "reason"
    tail = reason_tail(clause, about=request.action == "open_supplier_review")
    pieces = [text for _, text in sorted([*context, (position, tail)]) if text]
    args = dict(request.args)
    if pieces and key in args and context:
        args[key] = _cap("; ".join(pieces), words.max_reason_chars)
    everything = " ".join(text for _, text in context).lower()
    if request.action == "create_maintenance_order" and context:
        command = words.command(clause)
        if maintenance_type(command) is None and maintenance_type(everything):
            args["mo_type"] = maintenance_type(everything)
        if maintenance_priority(clause.lower()) is None and maintenance_priority(everything):
            args["priority"] = maintenance_priority(everything)
    if request.action == "open_supplier_review":
        for kind, arg in (("lot", "lot_ids"), ("qe", "qe_ids")):
            if not args.get(arg) and whole.ids.get(kind):
                args[arg] = list(whole.ids[kind])  # the lots the message is about belong to the review
    return replace(request, args=args)


def _target(request: ActionRequest) -> tuple[object, ...]:
    return (request.action, *(request.args.get(k) for k in _TARGETS))


def _object(clause: str, words: RequestWords) -> str:
    """The request clause after its verb ('reserve SP-4036 for AS-012' → 'SP-4036 for AS-012')."""
    command = words.command(clause)
    match = words.any_verb.match(command)
    return command[match.end():].strip() if match else command


def find_requests(question: str, whole: Entities, *, extract: Extract, detect: Detect) -> RequestSplit | None:
    """The request(s) ``question`` makes, its informational part and the reasons around them; ``None`` when no
    clause is a request. ``whole``: entities of the whole message; ``extract``: entities of a clause;
    ``detect``: the request of a clause given its entities."""
    words = request_words()
    clauses = split_clauses(question, extract)
    commands = [words.command(c) for c in clauses]
    if not any(_candidate(c, words) for c in commands):
        return None
    if len(clauses) == 1:
        found = detect(question, whole)
        return None if found is None else RequestSplit((found,), unknown_ids=whole.unknown_ids, single=True)
    requests: list[tuple[int, str, ActionRequest]] = []
    unknown: list[str] = []
    info: list[str] = []
    context: list[tuple[int, str]] = []
    for position, (clause, command) in enumerate(zip(clauses, commands, strict=True)):
        found, used = (_detect(clause, whole, extract, detect) if _candidate(command, words) and
                       len(requests) < _MAX_REQUESTS else (None, whole))
        if found is not None:
            if all(_target(found) != _target(r) for _, _, r in requests):
                requests.append((position, clause, found))
                unknown += used.unknown_ids
        elif _asks(clause, command, words):
            info.append(clause)
        else:
            context.append((position, _clean(clause, words)))
    if any(not r.missing for _, _, r in requests):
        # A bare verb that makes no complete request beside one that does is a statement ('Transfer from P100
        # took 3 days. Please move 200 …'): it is context, not a second request to ask about.
        for position, clause, request in [q for q in requests if q[2].missing and not words.has_opener(q[1])]:
            requests.remove((position, clause, request))
            context.append((position, _clean(clause, words)))
    if not requests:
        return None
    shaped = tuple(_with_context(r, clause, context, position, whole, words) for position, clause, r in requests)
    asked = " ".join(info)
    if asked and _PRONOUN.search(asked) and not _record_ids(extract(asked)):
        asked = f"{asked} ({_object(requests[0][1], words)})"  # 'what do they cost' → about the request's records
    return RequestSplit(shaped, asked, tuple(dict.fromkeys(unknown)))


def own_words(message: str, action: str, is_request: Callable[[str], bool]) -> str:
    """The reason (or description) of ``action`` in the user's own words, for a Spanish ``message`` read through its
    English rewording: the sentences around the request sentence and the tail after the request, in message order
    ('' when there are none). ``is_request``: whether a sentence of ``message`` makes a request."""
    words = request_words()
    pieces: list[str] = []
    for sentence in _sentences(message, words):
        if is_request(sentence):
            pieces.append(reason_tail(sentence, about=action == "open_supplier_review"))
        else:
            pieces.append(_clean(sentence, words))
    return _cap("; ".join(p for p in pieces if p), words.max_reason_chars)


def own_words_reason(request: ActionRequest, message: str, is_request: Callable[[str], bool]) -> ActionRequest:
    """``request`` (understood from the English rewording of the Spanish ``message``) with its reason in the user's
    own words (:func:`own_words`); unchanged when there is no such reason."""
    key = "description" if request.action == "create_maintenance_order" else "reason"
    if request.missing or key not in request.args:
        return request
    own = own_words(message, request.action, is_request)
    return replace(request, args={**request.args, key: own}) if own else request


def answer_reason(answer: str, chosen: str, picks: Callable[[str], bool] = lambda _: False) -> str:
    """The reason an answer to 'which one do you mean?' gives beside its choice ("the 45,900 one - LOT-P100-0424.
    heads snapping off during assembly" → 'heads snapping off during assembly'): its sentences that do not pick
    ``chosen``, and what follows the id in the one that does; '' when it only picks. ``picks``: whether a
    sentence only chooses ('the second one')."""
    words = request_words()
    tail = re.compile(rf"\b(?:{re.escape(chosen)}|{re.escape(chosen.rsplit('-', 1)[-1])})\b", re.IGNORECASE)
    pieces: list[str] = []
    for sentence in _sentences(answer, words):
        if picks(sentence):
            continue  # 'the second one': the choice, no reason
        found = tail.search(sentence)
        rest = sentence[found.end():] if found else sentence
        cleaned = _clean(rest.strip(" ,;:-—–."), words)
        if cleaned and (found is None or len(cleaned.split()) >= 2):
            pieces.append(cleaned)
    return _cap("; ".join(pieces), words.max_reason_chars)
