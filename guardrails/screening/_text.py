"""Text normalization for screening, with a map back to the original text.

Patterns are matched against a *normalized view* of the text so Unicode tricks
do not hide an attack: compatibility forms are folded (NFKD: fullwidth letters,
ligatures), accents and other combining marks are dropped (so Spanish patterns
are written without accents), format characters (zero-width spaces and joiners,
bidi controls, soft hyphens) are removed, a few Cyrillic/Greek look-alike
letters become their Latin twins, and runs of whitespace collapse to one space
(or one newline when the run holds a line break, so line-start patterns work).

Each normalized character remembers the original characters it came from, so a
finding reports (and a neutralization replaces) the original span.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NormalizedText", "normalize"]

# Look-alike letters attackers swap in to dodge keyword patterns (Cyrillic and Greek only: small and precise).
_HOMOGLYPHS = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "І": "I", "ο": "o", "α": "a", "ε": "e", "ι": "i", "ν": "v", "Ο": "O", "Α": "A", "Ε": "E",
    "Ι": "I", "Τ": "T",
    # Matched by IGNORECASE as "i" but not lowercased to it; mapped so the literal prefilter agrees with the regex.
    "ı": "i",
})
_NEWLINES = frozenset("\n\r\v\f\x85\u2028\u2029")
_NEEDS_WS_WORK = re.compile(r"\s\s|[\t\r\f\v]")
_ASCII = frozenset(chr(i) for i in range(128))


@dataclass(frozen=True)
class NormalizedText:
    """A normalized view of ``original`` and the map from view positions back to it."""

    original: str
    """The text as given."""
    text: str
    """The normalized view patterns are matched against."""
    starts: tuple[int, ...] | None
    """``starts[i]`` is the original index the view character ``i`` came from; ``None`` = same positions."""
    ends: tuple[int, ...] | None
    """``ends[i]`` is one past the last original index view character ``i`` covers; ``None`` = same positions."""

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span covered by the view span ``[start, end)``."""
        if self.starts is None or self.ends is None:
            return start, end
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """The normalized form of one non-ASCII character ('' when it is dropped)."""
    if unicodedata.category(ch) == "Cf":  # zero-width chars, bidi controls, soft hyphen
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return kept.translate(_HOMOGLYPHS)


def _one_to_one(text: str) -> str | None:
    """The view of ``text`` when every character maps to exactly one (so positions are unchanged), else ``None``."""
    # Cheap substring tests first; the regex only runs when a newline could start a whitespace run.
    if "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        return None
    if "\n" in text and _NEEDS_WS_WORK.search(text):
        return None
    if text.isascii():
        return text
    view = text
    for ch in set(text) - _ASCII:
        folded = _fold(ch)
        if len(folded) != 1 or folded.isspace():
            return None
        if folded != ch:
            view = view.replace(ch, folded)  # a few C-level replaces beat str.translate with a dict
    return view


def normalize(text: str) -> NormalizedText:
    """Build the normalized view of ``text`` (see the module docstring)."""
    same_length = _one_to_one(text)
    if same_length is not None:  # the common case: accents folded in place, no map needed
        return NormalizedText(text, same_length, None, None)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    in_space = False
    for i, ch in enumerate(text):
        pieces = ch if ch.isascii() else _fold(ch)
        for piece in pieces:
            if piece.isspace():
                is_newline = piece in _NEWLINES
                if in_space:
                    # Extend the collapsed run; a line break anywhere in it makes it a newline.
                    if is_newline:
                        out[-1] = "\n"
                    ends[-1] = i + 1
                    continue
                in_space = True
                piece = "\n" if is_newline else " "
            else:
                in_space = False
            out.append(piece)
            starts.append(i)
            ends.append(i + 1)
    return NormalizedText(text, "".join(out), tuple(starts), tuple(ends))


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def without_controls(text: str) -> str:
    """``text`` without C0 control characters other than tab and line breaks: they carry no meaning in a
    question or a comment, and Postgres (text and JSONB) cannot store NUL."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text
