"""Text normalisation for the rules model: tokens, light stemming and typo-tolerant matching.

Everything here is pure and deterministic: the same text always gives the same
tokens. Stems are deliberately crude (plural and possessive endings only) so a
cue word in the data files matches "orders", "order's" and "order" alike.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["FIRST_PERSON", "Speller", "Token", "damerau_distance", "first_person", "fold", "question_start", "stem",
           "tokenize", "words"]

_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_KEEP_S = ("ss", "us", "is", "ics", "ous")


def fold(text: str) -> str:
    """Lower-case ``text``, strip accents and unify quotes/dashes (so 'Nuevo León' matches 'nuevo leon')."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-").replace("&", " and ")
    return text.lower()


def stem(word: str) -> str:
    """A light stem: plural and possessive endings removed ('batteries' → 'battery', "line's" → 'line')."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(_KEEP_S):
        return word[:-1]
    return word


@dataclass(frozen=True)
class Token:
    """One word of the question with its position in the folded text."""

    text: str
    """The folded word as typed."""
    stem: str
    """Its stem (possibly typo-corrected) used for matching."""
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Tokens of already folded ``text`` (letters/digits runs; decimals kept whole)."""
    return [Token(m.group(0), stem(m.group(0)), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def words(text: str) -> list[str]:
    """Stems of ``text`` (folded first): how phrases in the data files are compared."""
    return [t.stem for t in tokenize(fold(text))]


def damerau_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance between ``a`` and ``b``, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
            best = min(best, cur[j])
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[len(b)]


class Speller:
    """Corrects light typos ('invntory', 'suplier', 'scarp') towards a known vocabulary.

    Only words of five letters or more that are not known words themselves are
    corrected, only to a vocabulary word with the same first letter, and only
    when exactly one word is closest (ties are left alone: never guess).
    """

    def __init__(self, vocabulary: Iterable[str], known: Iterable[str]) -> None:
        self._targets: dict[tuple[str, int], list[str]] = {}
        self._known = set(known)
        for word in sorted(set(vocabulary)):
            if len(word) >= 4 and word.isalpha():
                self._known.add(word)
                self._targets.setdefault((word[0], len(word)), []).append(word)

    def correct(self, word: str) -> str:
        """``word`` itself when known or too short; else its unique nearest vocabulary word, if close enough."""
        if len(word) < 5 or not word.isalpha() or word in self._known:
            return word
        limit = 1 if len(word) < 8 else 2
        best: list[str] = []
        best_distance = limit + 1
        for size in range(len(word) - limit, len(word) + limit + 1):
            for candidate in self._targets.get((word[0], size), ()):
                distance = damerau_distance(word, candidate, limit)
                if distance < best_distance:
                    best, best_distance = [candidate], distance
                elif distance == best_distance and distance <= limit:
                    best.append(candidate)
        return best[0] if len(best) == 1 else word

    def apply(self, tokens: Sequence[Token]) -> list[Token]:
        """``tokens`` with typo-corrected stems."""
        out = []
        for token in tokens:
            fixed = self.correct(token.stem)
            out.append(token if fixed == token.stem else Token(token.text, fixed, token.start, token.end))
        return out


def question_start(text: str) -> int:
    """Where the question of ``text`` starts: after the sentences before a final question ('I'm new on the desk.
    What open lines does S-022 have?' asks about S-022, not about the asker's own records)."""
    ends = [m.end() for m in re.finditer(r"[.!;]\s+(?=\S)", text)]
    return ends[-1] if ends and text.rstrip().endswith("?") else 0


FIRST_PERSON = frozenset({"i", "my", "mine", "myself"})


def first_person(words: list[str]) -> bool:
    """The asker speaks of their own records: "I", "my" ..., or "for me" ("cancel candidates for me"); a bare
    "me" ("show me the late POs") is not enough."""
    return any(w in FIRST_PERSON or (w == "me" and i and words[i - 1] == "for") for i, w in enumerate(words))
