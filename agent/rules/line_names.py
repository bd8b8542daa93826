"""Lines named in a question: by code ('PK1'), type and number ('packaging line 1', 'first assembly line', 'cell 1'),
number alone ('line 2'), or a bare type after a preposition where the user has one such line ('in packaging')."""

from __future__ import annotations

import re

from agent.rules.ambiguity import Ambiguity
from agent.rules.lexicon import PlantLexicon
from agent.rules.names import PhraseIndex
from agent.rules.text import words
from agent.rules.vocab import Vocabulary

__all__ = ["LineFinder"]

_LINE_PLACE = frozenset(("in", "on", "at", "for", "from", "our", "has", "have", "does", "did", "is", "was"))
"""Words before a bare line type that make it a line ('in packaging'), resolved only when one line fits."""


class LineFinder:
    """Finds production lines in a question's word stems (built once per resolver)."""

    def __init__(self, lexicon: PlantLexicon, vocab: Vocabulary) -> None:
        self.lexicon = lexicon
        self.vocab = vocab
        self._types = PhraseIndex(vocab.line_types)

    @staticmethod
    def _narrow(cands: tuple[str, ...], sites: list[str], user_sites: frozenset[str] | None) -> list[str]:
        """Line ids at the sites named, else at the user's sites (all of them when none is there)."""
        narrowed = [c for c in cands if not sites or c.split("-")[0] in sites]
        if user_sites is not None and not sites:
            narrowed = [c for c in narrowed if c.split("-")[0] in user_sites] or narrowed
        return narrowed

    def find(self, stems: list[str], taken: set[int], sites: list[str], user_sites: frozenset[str] | None,
             ambiguities: list[Ambiguity]) -> list[tuple[str | None, tuple[int, int]]]:
        """Lines named by code ('PK1'), type and number ('packaging line 1', 'first assembly line') or
        number alone ('line 2'); each with its resolved id (``None`` when ambiguous) and token span."""
        lex, vocab = self.lexicon, self.vocab
        found: list[tuple[tuple[str, ...], tuple[int, int]]] = []
        i = 0
        while i < len(stems):
            if i in taken:
                i += 1
                continue
            word = stems[i]
            code = re.fullmatch(r"(pk|as|mc)(\d)", word)
            span: tuple[int, int] | None = None
            soft = False
            cands: tuple[str, ...] = ()
            if code:
                cands = tuple(ln.line_id for ln in lex.lines if ln.code == word.upper())
                span = (i, i + 1)
            else:
                ordinal = vocab.ordinals.get(word) if i + 1 < len(stems) else None
                j = i + 1 if ordinal else i
                type_hit = self._types.find(stems[j:j + 2], set())
                if type_hit and type_hit[0].start == 0:
                    prefix = type_hit[0].values[0]
                    k = j + type_hit[0].end
                    has_word = k < len(stems) and stems[k] in vocab.line_words
                    k2 = k + 1 if has_word else k
                    number = ordinal
                    if number is None and k2 < len(stems) and (stems[k2].isdigit() or stems[k2] in vocab.ordinals):
                        number = int(stems[k2]) if stems[k2].isdigit() else vocab.ordinals[stems[k2]]
                        k2 += 1
                    soft = number is None and not has_word and i > 0 and stems[i - 1] in _LINE_PLACE
                    if number is not None or has_word or soft:
                        cands = tuple(ln.line_id for ln in lex.lines if ln.code.startswith(prefix)
                                      and (number is None or ln.code == f"{prefix}{number}"))
                        span = (i, k2)
                elif word in vocab.line_words and i + 1 < len(stems) and stems[i + 1].isdigit():
                    number = int(stems[i + 1])
                    numbered = [ln for ln in lex.lines if ln.code.endswith(str(number))]
                    # 'cell 1' is the cell of that number; 'line 1' may be any production line numbered 1
                    named = [ln for ln in numbered if word != "line" and word in words(ln.name)]
                    cands = tuple(ln.line_id for ln in named or numbered)
                    span = (i, i + 2)
            if span and cands and soft and len(self._narrow(cands, sites, user_sites)) != 1:
                span = None  # 'in packaging' names a line only where the user has one packaging line
            if span and cands:
                taken.update(range(*span))
                found.append((cands, span))
                i = span[1]
            else:
                i += 1
        resolved: list[tuple[str | None, tuple[int, int]]] = []
        for cands, span in found:
            narrowed = self._narrow(cands, sites, user_sites)
            if len(narrowed) == 1:
                resolved.append((narrowed[0], span))
            elif narrowed:
                labels = []
                for c in narrowed:
                    line = lex.line(c)
                    labels.append((c, f"{line.name if line else c} at {c.split('-')[0]}"))
                ambiguities.append(Ambiguity("line", " ".join(stems[span[0]:span[1]]), tuple(labels)))
                resolved.append((None, span))
        return resolved
