"""Reading questions typed in Spanish: detect them cheaply and reword them into the English the rules know.

The rules model understands English through its data files (intents, vocabulary, periods, request verbs).
Rather than adding Spanish cues to each of them, a question detected as Spanish is rewritten once, word by
word and phrase by phrase, from the table in ``data/spanish.yaml`` ("¿cuánto inventario tenemos de CP-2039 en
Monterrey?" → "how much inventory do we have of cp-2039 in monterrey?"); everything downstream — ids,
periods, names, intents, requests — then runs unchanged. An English question is never rewritten.

The rewrite is deliberately shallow and deterministic: folded words (no accents, lower case), plural and
feminine forms found through their singular masculine entry, light typos corrected towards a table word,
and the longest phrase first. Ids and the words of supplier names ("Refacciones Industriales Santa
Catarina") are left exactly as typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agent.rules.text import Speller, fold
from agent.rules.vocab import load_yaml

__all__ = ["Reading", "SpanishReader", "forms"]

_WORD = re.compile(r"[a-z0-9]+")
_ID_JOINERS = "-/."
_NAME_JOINERS = frozenset({"de", "del", "y", "la", "el", "s", "a", "c", "v", "sa", "cv", "and", "the", "of"})
_ACCENTED = re.compile(r"[áéíóúüñÁÉÍÓÚÜÑ]")
_CACHE_SIZE = 512
# Pronouns written onto a verb ('apártame', 'cámbiale', 'ábrele'): the verb is read without them.
_ENCLITICS = ("selo", "sela", "melo", "mela", "nos", "les", "los", "las", "me", "le", "lo", "la", "te")
_ENCLITIC_ENGLISH = {"lo": "it", "la": "it", "los": "them", "las": "them", "selo": "it", "sela": "it",
                     "melo": "it", "mela": "it"}
"""The object a pronoun written onto a verb stands for ('apártalo' → 'reserve it')."""


@lru_cache(maxsize=4096)
def forms(word: str) -> tuple[str, ...]:
    """``word`` and the singular / masculine forms it may stand for ('atrasadas' → … 'atrasado')."""
    out = [word]
    if len(word) > 3 and word.isalpha():
        if word.endswith("es") and len(word) > 4:
            out.append(word[:-2])
        if word.endswith("s"):
            out.append(word[:-1])
        for w in list(out):
            if len(w) >= 5 and w.endswith("a"):
                out.append(w[:-1] + "o")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Reading:
    """A question as the rules read it: folded, and worded in English when it was Spanish."""

    text: str
    spanish: bool


@dataclass(frozen=True)
class _Token:
    word: str
    start: int
    end: int
    fixed: bool
    """Part of an id ('cp-2039') or of a supplier's name: never reworded."""


def _phrase_table(raw: Mapping[str, Any]) -> dict[tuple[str, ...], str]:
    """Every phrase of the data file (weekday templates expanded) as folded words → English."""
    table: dict[tuple[str, ...], str] = {}

    def add(key: str, value: str) -> None:
        words = tuple(_WORD.findall(fold(key)))
        if not words:
            raise ValueError(f"spanish.yaml: empty phrase {key!r}")
        if words in table:
            raise ValueError(f"spanish.yaml: phrase {key!r} is listed twice")
        table[words] = str(value or "")

    for group in dict(raw.get("phrases") or {}).values():
        for key, value in dict(group).items():
            add(str(key), str(value or ""))
    days = {str(k): str(v) for k, v in dict(raw.get("weekdays") or {}).items()}
    for es, en in days.items():
        add(es, en)
        for key, value in dict(raw.get("weekday_phrases") or {}).items():
            add(str(key).replace("{d}", es), str(value).replace("{d}", en))
    for es, en in dict(raw.get("months") or {}).items():
        add(str(es), str(en))
    return table


class SpanishReader:
    """Detects Spanish questions and rewords them (built once per model; see ``data/spanish.yaml``)."""

    def __init__(self, data: Mapping[str, Any] | None = None, *, site_words: Iterable[str] = (),
                 names: Iterable[str] = (), english: Iterable[str] = ()) -> None:
        """``site_words``: words that alone name a site ('p200', 'monterrey'); ``names``: supplier names (their
        words are kept as typed when two of them stand together); ``english``: words the speller must leave
        alone."""
        raw = dict(data) if data is not None else load_yaml("spanish.yaml")
        markers = dict(raw.get("markers") or {})
        self._spanish_markers = frozenset(fold(str(w)) for w in markers.get("spanish", []))
        self._english_markers = frozenset(fold(str(w)) for w in markers.get("english", []))
        self._prefixes = {fold(str(k)): str(v) for k, v in dict(raw.get("id_prefixes") or {}).items()}
        self._before_site = {fold(str(k)): str(v) for k, v in dict(raw.get("before_site") or {}).items()}
        self._site_lead = frozenset(fold(str(w)) for w in raw.get("site_lead", []))
        postposed = dict(raw.get("postposed") or {})
        self._postposed = _postposed_pattern([str(w) for w in postposed.get("nouns", [])],
                                             [str(w) for w in postposed.get("adjectives", [])])
        self._sites = frozenset(site_words)
        table = _phrase_table(raw)
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for words, value in table.items():
            self._by_first.setdefault(words[0], []).append((words, value))
        for entries in self._by_first.values():
            entries.sort(key=lambda e: -len(e[0]))
        keys = {w for words in table for w in words}
        self._keys = frozenset(keys)
        english_words = frozenset(english) | self._english_markers
        self._english = english_words
        speller = Speller({w for w in keys if len(w) >= 5}, english_words | self._spanish_markers)
        self._correct = lru_cache(maxsize=4096)(speller.correct)
        self._cache: dict[str, Reading] = {}
        self._name_of: dict[str, frozenset[int]] = {}
        for index, name in enumerate(names):
            for word in _WORD.findall(fold(name)):
                if word not in _NAME_JOINERS and len(word) > 1:
                    self._name_of[word] = self._name_of.get(word, frozenset()) | {index}

    # ------------------------------------------------------------------ detection
    def _tokens(self, text: str) -> list[_Token]:
        """The words of folded ``text``, those of ids and supplier names marked as fixed."""
        found = list(_WORD.finditer(text))
        tokens = []
        for i, match in enumerate(found):
            start, end = match.span()
            joined = ((start > 0 and text[start - 1] in _ID_JOINERS and start > 1 and text[start - 2].isalnum())
                      or (end < len(text) - 1 and text[end] in _ID_JOINERS and text[end + 1].isalnum()))
            tokens.append(_Token(match.group(0), start, end, joined or self._in_name(found, i)))
        return tokens

    def _in_name(self, found: Sequence[re.Match[str]], i: int) -> bool:
        """True when word ``i`` and its nearest neighbour (joiners skipped) belong to one supplier name."""
        mine = self._name_of.get(found[i].group(0))
        if not mine:
            return False
        for step in (-1, 1):
            j = i + step
            while 0 <= j < len(found) and found[j].group(0) in _NAME_JOINERS:
                j += step
            if 0 <= j < len(found) and mine & self._name_of.get(found[j].group(0), frozenset()):
                return True
        return False

    def _is_spanish(self, question: str, tokens: Sequence[_Token]) -> bool:
        """True when the Spanish evidence of ``question`` outweighs its English evidence (see the data file)."""
        spanish = 2 * (question.count("¿") + question.count("¡"))
        for word in re.findall(r"\w+", question):
            if _ACCENTED.search(word) and fold(word).lower() not in self._name_of:
                spanish += 1
        english = 0
        for token in tokens:
            if token.fixed or token.word.isdigit():
                continue
            if token.word in self._english_markers:
                english += 1
            elif token.word in self._spanish_markers or (
                    len(token.word) > 2 and token.word not in self._english
                    and any(f in self._keys for f in forms(token.word))):
                spanish += 1
        return spanish > english

    # ------------------------------------------------------------------ rewording
    def _forms(self, token: _Token) -> tuple[str, ...]:
        """The forms a word may stand for, plus the table word it is a light typo of (if any)."""
        found = forms(token.word)
        if token.fixed or any(f in self._keys for f in found) or token.word in self._english or len(token.word) < 5:
            return found
        verb = self._without_enclitic(token.word)
        if verb:
            return (*found, verb)
        fixed = tuple(dict.fromkeys(c for c in (self._correct(f) for f in found) if c in self._keys))
        return found + fixed

    def _without_enclitic(self, word: str) -> str:
        """``word`` without the pronoun written onto it when what is left is a table verb ('apartame' →
        'aparta'), else ''."""
        for pronoun in _ENCLITICS:
            stem = word[:-len(pronoun)]
            if word.endswith(pronoun) and len(stem) >= 3 and stem in self._keys:
                return stem
        return ""

    def _phrase(self, tokens: Sequence[_Token], variants: Sequence[tuple[str, ...]], text: str,
                i: int) -> tuple[int, str, str] | None:
        """The longest table phrase starting at token ``i``: (tokens it covers, English), else ``None``."""
        first = variants[i]
        # Longest phrase first; between equally long ones, the one whose first word is the form as typed.
        ranked = {entry: rank for rank, f in reversed(list(enumerate(first))) for entry in self._by_first.get(f, ())}
        for words, value in sorted(ranked, key=lambda e: (-len(e[0]), ranked[e])):
            end = i + len(words)
            if end > len(tokens):
                continue
            ok = all(not tokens[k].fixed and words[k - i] in variants[k]
                     and (k == i or not text[tokens[k - 1].end:tokens[k].start].strip())
                     for k in range(i, end))
            if ok:
                return len(words), value, words[0]
        return None

    def _site_after(self, tokens: Sequence[_Token], i: int) -> int | None:
        """When a site follows token ``i`` (after at most three lead words), the index of the site's word."""
        j = i + 1
        while j < len(tokens) and j <= i + 3 and tokens[j].word in self._site_lead:
            j += 1
        if j < len(tokens) and tokens[j].word in self._sites:
            return j
        return None

    def read(self, question: str) -> Reading:
        """``question`` folded, reworded into English when it is Spanish (the planner reads a question and
        the thread's earlier ones several times a turn: the readings are kept)."""
        reading = self._cache.get(question)
        if reading is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            reading = self._cache[question] = self._read(question)
        return reading

    def _read(self, question: str) -> Reading:
        text = fold(question)
        tokens = self._tokens(text)
        if not tokens or not self._is_spanish(question, tokens):
            return Reading(text, False)
        variants = [self._forms(token) for token in tokens]
        out: list[str] = []
        last = 0
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.fixed:
                prefix = self._prefixes.get(token.word)
                if prefix and token.end < len(text) and text[token.end] == "-":
                    out += [text[last:token.start], prefix]
                    last = token.end
                i += 1
                continue
            if token.word in self._before_site:
                site = self._site_after(tokens, i)
                if site is not None:
                    out += [text[last:token.start], self._before_site[token.word] + " "]
                    last = tokens[site].start
                    i = site
                    continue
            hit = self._phrase(tokens, variants, text, i)
            if hit is None:
                i += 1
                continue
            size, value, first = hit
            if size == 1 and first != token.word and self._without_enclitic(token.word) == first:
                # 'apártalo' → 'reserve it': the pronoun written onto the verb is kept
                value = f"{value} {_ENCLITIC_ENGLISH.get(token.word[len(first):], '')}".rstrip()
            out += [text[last:token.start], value]
            last = tokens[i + size - 1].end
            i += size
        out.append(text[last:])
        english = " ".join("".join(out).split())
        if self._postposed is not None:  # 'orden correctiva' → 'order corrective' → 'corrective order'
            english = self._postposed.sub(r"\g<adj> \g<noun>", english)
        return Reading(english, True)


def _postposed_pattern(nouns: Sequence[str], adjectives: Sequence[str]) -> re.Pattern[str] | None:
    """A pattern of an English noun followed by an adjective Spanish puts after its noun (``None``: no data)."""
    if not nouns or not adjectives:
        return None
    def alternatives(words: Sequence[str]) -> str:
        return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"\b(?P<noun>{alternatives(nouns)}) (?P<adj>{alternatives(adjectives)})\b")

