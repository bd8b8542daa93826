"""The rules model's vocabulary file (``data/vocab.yaml``) as a typed, immutable object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from agent.rules.text import words

__all__ = ["Vocabulary", "load_yaml"]

Phrases = tuple[tuple[tuple[str, ...], str], ...]
"""(phrase stems, value) pairs, longest phrase first."""


def load_yaml(name: str) -> dict[str, Any]:
    """Parse ``agent/rules/data/<name>`` (packaged data; read when a model is built, never at import)."""
    text = resources.files("agent.rules").joinpath("data", name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"agent/rules/data/{name} must hold a mapping")
    return data


def _phrases(mapping: Mapping[str, Any]) -> Phrases:
    """``{value: [phrase, ...]}`` or ``{phrase: value}`` → stemmed (phrase, value) pairs, longest first."""
    pairs: list[tuple[tuple[str, ...], str]] = []
    for key, value in mapping.items():
        if isinstance(value, list):
            pairs += [(tuple(words(str(p))), str(key)) for p in value]
        else:
            pairs.append((tuple(words(str(key))), str(value)))
    pairs = [p for p in pairs if p[0]]
    return tuple(sorted(set(pairs), key=lambda p: (-len(p[0]), p[0], p[1])))


@dataclass(frozen=True)
class Vocabulary:
    """Words for sites, line types, statuses, codes and numbers (see ``data/vocab.yaml``)."""

    sites: Phrases
    line_types: Phrases
    line_words: frozenset[str]
    ordinals: Mapping[str, int]
    machine_aliases: Phrases
    parameter_aliases: Phrases
    reason_aliases: Phrases
    defect_aliases: Phrases
    stock_status: Phrases
    wo_status: Phrases
    qe_status: Phrases
    severity: Phrases
    item_types: Phrases
    abc_classes: Phrases
    numbers: Mapping[str, int]
    known_words: frozenset[str]
    flags: Mapping[str, Phrases] = field(default_factory=dict)
    short_typos: Mapping[str, str] = field(default_factory=dict)
    """Short typed forms and the word each stands for ('nxt' → 'next'), fixed before anything reads a question."""
    """Further qualifiers by name (``flags:`` in the file), e.g. ``open_only`` or ``mo_type``: the value of the
    first phrase found is the entity flag of that name, which an intent's ``@<name>`` slot reads."""

    @classmethod
    def load(cls, data: Mapping[str, Any] | None = None) -> Vocabulary:
        """The vocabulary from ``data`` (default: the packaged ``vocab.yaml``)."""
        raw = dict(data) if data is not None else load_yaml("vocab.yaml")
        return cls(
            sites=_phrases(raw["sites"]),
            line_types=_phrases(raw["line_types"]),
            line_words=frozenset(words(" ".join(raw["line_words"]))),
            ordinals={str(k): int(v) for k, v in raw["ordinals"].items()},
            machine_aliases=_phrases(raw["machine_aliases"]),
            parameter_aliases=_phrases(raw["parameter_aliases"]),
            reason_aliases=_phrases(raw["reason_aliases"]),
            defect_aliases=_phrases(raw["defect_aliases"]),
            stock_status=_phrases(raw["stock_status"]),
            wo_status=_phrases(raw["wo_status"]),
            qe_status=_phrases(raw["qe_status"]),
            severity=_phrases(raw["severity"]),
            item_types=_phrases(raw["item_types"]),
            abc_classes=_phrases(raw["abc_classes"]),
            numbers={str(k): int(v) for k, v in raw["numbers"].items()},
            known_words=frozenset(words(" ".join(str(w) for w in raw["known_words"]))),
            flags={str(name): _phrases(group) for name, group in (raw.get("flags") or {}).items()},
            short_typos={str(k).lower(): str(v).lower() for k, v in (raw.get("short_typos") or {}).items()},
        )

    def all_stems(self) -> set[str]:
        """Every stem used in a phrase of this vocabulary (for the speller)."""
        out: set[str] = set()
        for group in (self.sites, self.line_types, self.machine_aliases, self.parameter_aliases,
                      self.reason_aliases, self.defect_aliases, self.stock_status, self.wo_status, self.qe_status,
                      self.severity, self.item_types, self.abc_classes):
            for phrase, _ in group:
                out.update(phrase)
        for group in self.flags.values():
            for phrase, _ in group:
                out.update(phrase)
        return out
