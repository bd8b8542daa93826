"""The words of requests (``data/requests.yaml``) compiled once: openers, each action's verbs and nouns, the
starts of questions, reason connectives, fillers and the light typo correction of request words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from agent.rules.text import Speller, fold
from agent.rules.vocab import load_yaml

__all__ = ["RequestWords", "request_words"]

_WORD = re.compile(r"[a-z]+")


def _phrase(phrase: str) -> str:
    """A regex for ``phrase`` (any run of spaces between its words)."""
    return r"\s+".join(re.escape(w) for w in phrase.split())


_NOT_PARTY = "me|us|which|what|where|who|how|when|whether|if|how much|how many"
"""Words after 'tell' / 'ask' that make it a question to the copilot ('tell me which …'), not a relayed request."""


def _alternation(phrases: Iterable[str]) -> str:
    """A regex alternation of ``phrases``, longest first (so 'pull in' wins over 'pull')."""
    unique = sorted({str(p).strip().lower() for p in phrases if str(p).strip()}, key=lambda p: (-len(p), p))
    return "|".join(_phrase(p) for p in unique)


def _forms(verb: str) -> set[str]:
    """Regular inflections of ``verb`` ('move' → 'moves', 'moved', 'moving' ...): ordinary words, not typos."""
    stem = verb[:-1] if verb.endswith("e") else verb
    return {verb + "s", verb + "es", verb + "d", verb + "ed", verb + "ing", stem + "ing", stem + "ed",
            verb + verb[-1] + "ed", verb + verb[-1] + "ing", verb + "er", verb + "ers"}


@dataclass(frozen=True)
class RequestWords:
    """Everything the request detection reads from ``data/requests.yaml``."""

    verbs: Mapping[str, tuple[tuple[str, re.Pattern[str]], ...]]
    """Action name → (verb, pattern matching it at the start of a text), in data order."""
    nouns: Mapping[str, re.Pattern[str]]
    """Action name → the words that must accompany its verb (only for actions that list some)."""
    openers: re.Pattern[str]
    """One or more polite openers at the start of a clause, with the spaces and commas after them."""
    read_start: re.Pattern[str]
    """A clause start that asks or reads (after openers)."""
    any_verb: re.Pattern[str]
    """Any action verb at the start of a clause (after openers)."""
    noun_use: re.Pattern[str]
    """A verb at the start of a clause used as a noun ('release of …', 'hold time is …')."""
    reason: re.Pattern[str]
    """The reason tail of a request: group ``reason``, and ``kept`` when the connective stays in the reason."""
    fillers: re.Pattern[str]
    """Fillers at either end of a reason piece."""
    reason_lead: re.Pattern[str]
    """A connective opening a reason sentence ('Reason: …', 'Because …'), dropped."""
    greeting: re.Pattern[str]
    """A greeting at the start of a clause."""
    salutation: re.Pattern[str]
    """A greeting with whom it addresses, up to its comma ('Hi team, ', 'Hey Sam - ')."""
    split: re.Pattern[str]
    """A place inside a sentence where a new clause may start (before an opener or a verb)."""
    abbreviations: frozenset[str]
    shift_units: Mapping[str, int]
    shift_earlier: frozenset[str]
    shift_later: frozenset[str]
    shift_earlier_words: frozenset[str]
    shift_later_words: frozenset[str]
    max_reason_chars: int
    speller: Speller
    numbers: Mapping[str, int]
    """Number words ('two', 'a', 'couple') for shifts such as 'a week earlier'."""
    passive: re.Pattern[str] | None = None
    """A wish with a participle ('i want a review opened for …'): groups ``art``, ``obj``, ``part``, ``rest``."""
    participles: Mapping[str, str] = field(default_factory=dict)
    """Participle → the verb that starts the request ('opened' → 'open')."""
    short_typos: Mapping[str, str] = field(default_factory=dict)
    """Short typed forms and their words ('opn' → 'open'; vocab.yaml ``short_typos``)."""
    _fixed: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Words already corrected (a turn plans its message more than once; words repeat)."""

    @classmethod
    def from_data(cls, raw: Mapping[str, Any], known_words: Iterable[str] = (),
                  numbers: Mapping[str, int] | None = None,
                  short_typos: Mapping[str, str] | None = None) -> RequestWords:
        """Compile the request words from the parsed YAML ``raw`` (``known_words``: never typo-corrected;
        ``numbers``: number words)."""
        actions: Mapping[str, Mapping[str, Sequence[str]]] = raw["actions"]
        verbs = {name: tuple((str(v).lower(), re.compile(rf"{_phrase(str(v).lower())}\b")) for v in spec["verbs"])
                 for name, spec in actions.items()}
        nouns = {name: re.compile(rf"\b(?:{_alternation(spec['nouns'])})\b") for name, spec in actions.items()
                 if spec.get("nouns")}
        all_verbs = _alternation(v for vs in verbs.values() for v, _ in vs)
        # 'ask Tornillería to …', 'tell the vendor to …': the request is relayed to a named party.
        relayed = (rf"(?:{_alternation(raw.get('relayed') or ())})\s+(?:(?!(?:{_NOT_PARTY})\b)[\w&.'-]+\s+){{1,4}}?to"
                   if raw.get("relayed") else "")
        openers = "|".join(p for p in (_alternation(raw["openers"]), relayed) if p)
        conjunctions = _alternation(raw["conjunctions"])
        lead = rf"(?:{openers}|{all_verbs}|{_alternation(raw['read_starts'])})\b"
        fillers = _alternation(raw["fillers"])
        shift = raw["shift"]
        # Typos are corrected only towards request words, and never in a word that is an ordinary form.
        targets = {w for phrase in (*(v for vs in verbs.values() for v, _ in vs), *raw["typo_words"],
                                    *raw["openers"], *(n for spec in actions.values() for n in spec.get("nouns") or ()))
                   for w in _WORD.findall(str(phrase).lower())}
        known = ({f for vs in verbs.values() for v, _ in vs if " " not in v for f in _forms(v)}
                 | {str(w) for w in raw["verb_forms"]} | {str(w) for w in known_words})
        return cls(
            verbs=verbs, nouns=nouns,
            openers=re.compile(rf"^(?:(?:{openers})(?:[\s,]+|$))+"),
            read_start=re.compile(rf"^(?:{_alternation(raw['read_starts'])})\b"),
            any_verb=re.compile(rf"^(?:{all_verbs})\b"),
            noun_use=re.compile(rf"^(?:{all_verbs})\s+(?:{_alternation(raw['noun_uses'])})\b"),
            reason=re.compile(
                rf"(?:\s*[;:]\s+|,\s+|\s+[-—–]+\s+|\s*\breason(?:\s+is)?\s*[:=]?\s+|"
                rf"\s+(?:{_alternation(raw['reason_connectives'])})\s+|"
                rf"\s+(?P<kept>(?:{_alternation(raw['reason_kept'])})\s+))(?P<reason>.+)$", re.IGNORECASE),
            fillers=re.compile(rf"^(?:(?:{fillers})(?:[\s,.!;:-]+|$))+|"
                               rf"(?:[\s,.!;:-]+(?:{_alternation(raw['trailing_fillers'])}))+[\s.!]*$", re.IGNORECASE),
            reason_lead=re.compile(rf"^(?:reason(?:\s+is)?\s*[:=-]?\s*|(?:{_alternation(raw['reason_connectives'])})"
                                   rf"(?:[\s,:]+|$))", re.IGNORECASE),
            greeting=re.compile(rf"^(?:{_alternation(raw['greetings'])})\b", re.IGNORECASE),
            salutation=re.compile(rf"^(?:{_alternation(raw['greetings'])})(?:\s+[\w.'-]+){{0,2}}\s*[,!:;-]\s+",
                                  re.IGNORECASE),
            split=re.compile(
                rf"(?:\s*[,;:(]\s*|\s+[-—–]+\s+)(?:(?:{conjunctions})\s+)?(?={lead})|"
                rf"\s+(?:{conjunctions})\s+(?={lead})|\s+(?=(?:{_alternation(raw['strong_openers'])})\b)"
                + (rf"|\s+(?={relayed}\s)" if relayed else ""),
                re.IGNORECASE),
            abbreviations=frozenset(str(a).lower() for a in raw["abbreviations"]),
            shift_units={str(k): int(v) for k, v in shift["units"].items()},
            shift_earlier=frozenset(shift["earlier"]), shift_later=frozenset(shift["later"]),
            shift_earlier_words=frozenset(shift["earlier_words"]), shift_later_words=frozenset(shift["later_words"]),
            max_reason_chars=int(raw["max_reason_chars"]),
            speller=Speller(sorted(targets), known), numbers=dict(numbers or {}),
            short_typos=dict(short_typos or {}),
            passive=re.compile(rf"^(?:{_alternation(raw['passive_leads'])})\s+(?P<art>(?:a|an|the)\s+)?(?P<obj>.+?)\s+"
                               rf"(?P<part>{_alternation(raw['participles'])})\b(?P<rest>.*)$")
            if raw.get("passive_leads") and raw.get("participles") else None,
            participles={str(k).lower(): str(v).lower() for k, v in (raw.get("participles") or {}).items()},
        )

    def verb(self, text: str, action: str) -> str | None:
        """The head word of ``action``'s verb that ``text`` starts with ('pull in' → 'pull', 'we need' → 'need'),
        or ``None``."""
        for verb, pattern in self.verbs[action]:
            if pattern.match(text):
                words = verb.split(" ")
                return words[1] if words[0] in ("i", "we") and len(words) > 1 else words[0]
        return None

    def actions_for(self, verb: str) -> tuple[str, ...]:
        """The actions one of whose verbs is ``verb`` or starts with it ('pull' → the PO date change)."""
        return tuple(name for name, verbs in self.verbs.items()
                     if any(v == verb or v.split(" ")[0] == verb for v, _ in verbs))

    def has_nouns(self, text: str, action: str) -> bool:
        """True when ``text`` names what ``action`` is about (always, for actions listing no nouns)."""
        pattern = self.nouns.get(action)
        return pattern is None or bool(pattern.search(text))

    def command(self, text: str) -> str:
        """``text`` folded, light typos in request words corrected ('plese quarentine …' → 'please quarantine
        …'), spaces collapsed and the polite openers removed ('please can you hold …' → 'hold …')."""
        text = self.openers.sub("", self._normal(text)).strip()
        wish = self.passive.match(text) if self.passive is not None else None
        if wish is None:
            return text
        part = " ".join(wish.group("part").split())
        return f"{self.participles[part]} {wish.group('art') or ''}{wish.group('obj')}{wish.group('rest')}"

    def has_opener(self, text: str) -> bool:
        """True when ``text`` starts with a polite opener ('please', 'can you' …)."""
        return bool(self.openers.match(self._normal(text)))

    def _normal(self, text: str) -> str:
        return " ".join(_WORD.sub(lambda m: self._correct(m.group(0)), fold(text)).split())

    def _correct(self, word: str) -> str:
        fixed = self._fixed.get(word)
        if fixed is None:
            if len(self._fixed) > 20_000:
                self._fixed.clear()  # bounded: a long-running server sees unbounded vocabulary
            fixed = self._fixed[word] = self.short_typos.get(word) or self.speller.correct(word)
        return fixed


@cache
def request_words() -> RequestWords:
    """The packaged request words (parsed on first use, then shared)."""
    vocab = load_yaml("vocab.yaml")
    return RequestWords.from_data(load_yaml("requests.yaml"), vocab["known_words"],
                                  {str(k): int(v) for k, v in vocab["numbers"].items()},
                                  {str(k).lower(): str(v).lower() for k, v in (vocab.get("short_typos") or {}).items()})
