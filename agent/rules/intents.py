"""The intent catalogue (``data/intents.yaml``) and how a question is matched to an intent.

A question's masked stems (see :mod:`agent.rules.entities`) are scored against
every intent: each must satisfy its ``require`` groups and avoid its
``exclude`` phrases; the highest sum of matched cue weights wins, ties going to
the intent listed first. No match is a valid outcome: the model then says it
cannot answer rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from agent.rules.text import fold, tokenize
from agent.rules.vocab import load_yaml

__all__ = ["PLACEHOLDERS", "CallTemplate", "Cue", "Intent", "IntentCatalogue", "IntentMatch"]

ENTITY_KINDS = ("item", "lot", "po", "poline", "wo", "qe", "so", "supplier", "customer", "line", "machine", "asset",
                "site", "param", "defect", "reason", "period")
PLACEHOLDERS = frozenset("ent" + kind for kind in ENTITY_KINDS)
"""The words that stand for a recognised entity in masked stems ('entlot' ...)."""

GAP = 4
"""How many words '..' in a phrase may skip."""

Element = frozenset[str] | None
"""One position of a phrase: the accepted stems, or ``None`` for a gap."""


@dataclass(frozen=True)
class Cue:
    """A compiled phrase."""

    text: str
    elements: tuple[Element, ...]
    needed: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)
    """The word positions (gaps left out): a question lacking every stem of one of them cannot match."""
    first: frozenset[str] = field(init=False, repr=False, compare=False)
    """The stems the phrase's first word accepts (a phrase starts with a word, never a gap)."""

    def __post_init__(self) -> None:
        first, last = (self.elements[0], self.elements[-1]) if self.elements else (None, None)
        if first is None or last is None:
            raise ValueError(f"phrase {self.text!r} must start and end with a word")
        object.__setattr__(self, "needed", tuple(e for e in self.elements if e is not None))
        object.__setattr__(self, "first", first)

    def possible(self, present: Set[str]) -> bool:
        """False when ``present`` (the question's stems as a set) rules the phrase out — a cheap prefilter."""
        return all(not e.isdisjoint(present) for e in self.needed)

    @classmethod
    def parse(cls, text: str) -> Cue:
        """Compile ``"where .. used"``, ``"run|running out"``, ``"<lot>"`` into elements."""
        elements: list[Element] = []
        for part in str(text).split():
            if part == "..":
                elements.append(None)
                continue
            alternatives = part.split("|")
            if len(alternatives) == 1:
                if part.startswith("<") and part.endswith(">"):
                    if part[1:-1] not in ENTITY_KINDS:
                        raise ValueError(f"phrase {text!r}: unknown entity {part}")
                    elements.append(frozenset({"ent" + part[1:-1]}))
                else:
                    elements += [frozenset({t.stem}) for t in tokenize(fold(part))]
                continue
            stems: set[str] = set()
            for alt in alternatives:
                tokens = tokenize(fold(alt))
                if len(tokens) != 1:
                    raise ValueError(f"phrase {text!r}: alternative {alt!r} must be one word")
                stems.add(tokens[0].stem)
            elements.append(frozenset(stems))
        return cls(str(text), tuple(elements))  # __post_init__ checks that it starts and ends with a word

    def matches(self, stems: Sequence[str], present: Set[str] | None = None) -> bool:
        """True when the phrase occurs in ``stems`` (``present``: ``set(stems)``, to skip hopeless phrases)."""
        if present is not None and not self.possible(present):
            return False
        # A phrase starts with a word (never a gap), so only positions holding one of its first stems can start it.
        return any(stem in self.first and self._at(stems, i, 0) for i, stem in enumerate(stems))

    def _at(self, stems: Sequence[str], i: int, k: int) -> bool:
        if k == len(self.elements):
            return True
        element = self.elements[k]
        if element is None:
            return any(self._at(stems, j, k + 1) for j in range(i, min(len(stems), i + GAP + 1)))
        return i < len(stems) and stems[i] in element and self._at(stems, i + 1, k + 1)

    def stems(self) -> set[str]:
        """Every stem of the phrase."""
        return {s for e in self.elements if e is not None for s in e}


def _by_first(cues: Iterable[Cue]) -> dict[str, tuple[int, ...]]:
    """Positions of ``cues`` by each stem their first word accepts."""
    index: dict[str, list[int]] = {}
    for i, cue in enumerate(cues):
        for stem in cue.first:
            index.setdefault(stem, []).append(i)
    return {stem: tuple(ids) for stem, ids in index.items()}


@dataclass(frozen=True)
class CallTemplate:
    """A tool call of an intent: the tool and its argument template (see the data file)."""

    tool: str
    args: Mapping[str, Any]
    optional: bool = False


@dataclass(frozen=True)
class Intent:
    """One intent of the catalogue."""

    name: str
    label: str
    calls: tuple[CallTemplate, ...]
    require: tuple[tuple[Cue, ...], ...]
    exclude: tuple[Cue, ...]
    cues: tuple[tuple[Cue, float], ...]
    needs: tuple[str, ...] = ()
    ask: str = ""
    by_first: Mapping[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    """Indices into ``cues`` by each stem a cue can start with: only those cues can match a question."""
    exclude_by_first: Mapping[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    """The same for ``exclude``."""
    require_by_first: tuple[Mapping[str, tuple[int, ...]], ...] = field(init=False, repr=False, compare=False)
    """The same for each ``require`` group."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_first", _by_first(cue for cue, _ in self.cues))
        object.__setattr__(self, "exclude_by_first", _by_first(self.exclude))
        object.__setattr__(self, "require_by_first", tuple(_by_first(group) for group in self.require))

    def score(self, stems: Sequence[str], present: Set[str] | None = None) -> float | None:
        """The cue score for ``stems``, or ``None`` when a requirement fails or an exclusion hits."""
        present = frozenset(stems) if present is None else present
        for group, index in zip(self.require, self.require_by_first, strict=True):
            if not any(group[i].matches(stems, present) for stem in present for i in index.get(stem, ())):
                return None
        excluding = self.exclude_by_first
        if any(self.exclude[i].matches(stems, present) for stem in present for i in excluding.get(stem, ())):
            return None
        # The cues in catalogue order (so the float sum is the same), restricted to those a question word starts.
        starts = sorted({i for stem in present for i in self.by_first.get(stem, ())})
        cues = self.cues
        return sum(cues[i][1] for i in starts if cues[i][0].matches(stems, present))


@dataclass(frozen=True)
class IntentMatch:
    """The chosen intent and its score (with the runner-up, for diagnostics)."""

    intent: Intent
    score: float
    runner_up: str | None = None


class IntentCatalogue:
    """All intents plus the action verbs, unsupported topics and help phrases of the data file."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        raw = dict(data) if data is not None else load_yaml("intents.yaml")
        self.intents: tuple[Intent, ...] = tuple(self._intent(entry) for entry in raw["intents"])
        names = [i.name for i in self.intents]
        if len(set(names)) != len(names):
            raise ValueError("duplicate intent names in intents.yaml")
        self.actions = frozenset(t.stem for w in raw.get("actions", []) for t in tokenize(fold(str(w))))
        self.action_objects = frozenset(t.stem for w in raw.get("action_objects", []) for t in tokenize(fold(str(w))))
        self.action_nouns = frozenset(t.stem for w in raw.get("action_nouns", []) for t in tokenize(fold(str(w))))
        self.action_openers = tuple(Cue.parse(str(p)) for p in raw.get("action_openers", []))
        self.unsupported = tuple((Cue.parse(str(k)), str(v)) for k, v in raw.get("unsupported", {}).items())
        self.help = tuple(Cue.parse(str(p)) for p in raw.get("help", []))
        self.defaults: dict[str, Intent] = {str(k): self.get(str(v)) for k, v in raw.get("defaults", {}).items()}

    @staticmethod
    def _intent(entry: Mapping[str, Any]) -> Intent:
        calls = tuple(CallTemplate(str(c["tool"]), dict(c.get("args", {})), bool(c.get("optional", False)))
                      for c in entry["calls"])
        # Singular and plural spellings compile to the same stems: count such a cue once (its highest weight).
        compiled: dict[tuple[Element, ...], tuple[Cue, float]] = {}
        for key, weight in dict(entry.get("cues", {})).items():
            cue = Cue.parse(str(key))
            if cue.elements not in compiled or compiled[cue.elements][1] < float(weight):
                compiled[cue.elements] = (cue, float(weight))
        cues = tuple(compiled.values())
        return Intent(
            name=str(entry["name"]), label=str(entry.get("label", entry["name"])), calls=calls,
            require=tuple(tuple(Cue.parse(str(p)) for p in group) for group in entry.get("require", [])),
            exclude=tuple(Cue.parse(str(p)) for p in entry.get("exclude", [])), cues=cues,
            needs=tuple(str(n) for n in entry.get("needs", [])), ask=str(entry.get("ask", "")))

    def get(self, name: str) -> Intent:
        """The intent called ``name`` (KeyError if unknown)."""
        for intent in self.intents:
            if intent.name == name:
                return intent
        raise KeyError(name)

    def stems(self) -> set[str]:
        """Every stem the catalogue's phrases use (the speller's targets)."""
        out: set[str] = set(self.actions)
        for intent in self.intents:
            for group in intent.require:
                for cue in group:
                    out |= cue.stems()
            for cue, _ in intent.cues:
                out |= cue.stems()
        for cue, _ in self.unsupported:
            out |= cue.stems()
        return {s for s in out if not s.startswith("ent")}

    def match(self, stems: Sequence[str]) -> IntentMatch | None:
        """The best intent for ``stems`` (``None`` when none qualifies)."""
        present = frozenset(stems)
        scored = [(score, -i, intent) for i, intent in enumerate(self.intents)
                  if (score := intent.score(stems, present)) is not None and score > 0]
        if not scored:
            return None
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        runner = scored[1][2].name if len(scored) > 1 else None
        return IntentMatch(scored[0][2], scored[0][0], runner)

    def is_action(self, stems: Sequence[str]) -> str | None:
        """The action verb when the question starts with one (after openers like 'please', 'can you') and
        names what it would change (a record, or a word such as 'hold' or 'orders')."""
        i = 0
        progressed = True
        while progressed and i < len(stems):
            progressed = False
            for opener in self.action_openers:
                elements = opener.elements
                if all(e is not None and i + k < len(stems) and stems[i + k] in e for k, e in enumerate(elements)):
                    i += len(elements)
                    progressed = True
                    break
        if i >= len(stems) or stems[i] not in self.actions:
            return None
        rest = stems[i + 1:]
        if rest and rest[0] in self.action_nouns:
            return None  # 'cancel candidates ...', 'release status of ...': the verb names a kind of record
        named = any(s in PLACEHOLDERS and s not in ("entperiod", "entsite") for s in rest)
        return stems[i] if named or any(s in self.action_objects for s in rest) else None

    def unsupported_topic(self, stems: Sequence[str]) -> str | None:
        """The unsupported topic the question is about, if any."""
        present = frozenset(stems)
        return next((topic for cue, topic in self.unsupported if cue.matches(stems, present)), None)

    def is_help(self, stems: Sequence[str]) -> bool:
        """True for greetings and 'what can you do'."""
        present = frozenset(stems)
        return len(stems) <= 8 and any(cue.matches(stems, present) for cue in self.help)
