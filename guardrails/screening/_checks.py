"""Named checks a screening rule can refer to from its data: validators and decoders.

A *validator* confirms a regex match before it counts (an IBAN must pass the
mod-97 check, a US routing number its ABA checksum), which keeps output
redaction precise. A *decoder* turns an encoded-looking blob back into text so
the screening rules can be applied to what it really says; a blob that does not
decode to readable text yields ``None`` and is not an attack.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping

__all__ = ["DECODERS", "VALIDATORS", "readable_text"]

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
_NON_HEX = re.compile(r"[^0-9A-Fa-f]")
# Common words of English and Spanish: plain text is full of them, its rot13 form has almost none.
_STOPWORDS = frozenset({
    "the", "and", "of", "to", "is", "in", "for", "you", "your", "all", "are", "this", "that", "with", "what",
    "now", "de", "la", "el", "que", "los", "las", "en", "y", "tu", "tus", "todas", "todo",
})
_WORDS = re.compile(r"[a-z]+")
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM",
)
# The common words in their rot13 form ("gur", "naq"): text holding none cannot gain a common word by decoding.
_ENCODED_STOPWORDS = re.compile(r"\b(?:" + "|".join(sorted(w.translate(_ROT13) for w in _STOPWORDS)) + r")\b")


def _iban_mod97(value: str) -> bool:
    """True when ``value`` is a well-formed IBAN whose mod-97 check digits are right."""
    iban = _NON_ALNUM.sub("", value).upper()
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def _aba_routing(value: str) -> bool:
    """True when ``value`` holds a 9-digit US routing number with a valid ABA checksum."""
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) != 9:
        return False
    weighted = 3 * (digits[0] + digits[3] + digits[6]) + 7 * (digits[1] + digits[4] + digits[7])
    weighted += digits[2] + digits[5] + digits[8]
    return weighted % 10 == 0


def _min_six_digits(value: str) -> bool:
    """True when ``value`` holds at least six digits (an account number, not a short code)."""
    return sum(c.isdigit() for c in value) >= 6


VALIDATORS: Mapping[str, Callable[[str], bool]] = {
    "iban_mod97": _iban_mod97,
    "aba_routing": _aba_routing,
    "min_six_digits": _min_six_digits,
}
"""Validators by the name a rule's ``validator`` key uses."""


def readable_text(raw: bytes) -> str | None:
    """``raw`` as text when it is printable UTF-8 with some letters, else ``None`` (binary)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    if printable < 0.95 * len(text) or letters < 4:
        return None
    return text


def _decode_base64(blob: str) -> str | None:
    """The text a base64 (standard or URL-safe) blob decodes to, or ``None``."""
    core = blob.rstrip("=")
    core = core[: len(core) - len(core) % 4] if len(core) % 4 == 1 else core
    padded = core + "=" * (-len(core) % 4)
    altchars = b"-_" if ("-" in padded or "_" in padded) else None
    try:
        raw = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    return readable_text(raw)


def _decode_hex(blob: str) -> str | None:
    """The text a hex blob (``69676e...``, ``\\x69\\x67``, ``69 67 6e``) decodes to, or ``None``."""
    digits = _NON_HEX.sub("", blob.replace("\\x", "").replace("0x", ""))
    if len(digits) % 2:
        digits = digits[:-1]
    try:
        raw = binascii.unhexlify(digits)
    except (binascii.Error, ValueError):
        return None
    return readable_text(raw)


def _decode_rot13(blob: str) -> str | None:
    """The rot13 reading of ``blob`` when it turns ordinary words into common words, else ``None``.

    Words are compared one by one, so a rot13 part inside plain text ("decode this for the team: vtaber
    nyy ...") still counts: at least two distinct common words must *appear* through decoding (one is
    enough when it has three letters or more, as short ones like "qr" → "de" occur by chance).
    """
    lowered = blob.lower()
    if not _ENCODED_STOPWORDS.search(lowered):  # the cheap necessary condition; plain prompts stop here
        return None
    gained = {
        decoded
        for plain, decoded in zip(_WORDS.findall(lowered), _WORDS.findall(lowered.translate(_ROT13)), strict=True)
        if decoded in _STOPWORDS and plain not in _STOPWORDS
    }
    if len(gained) < 2 and not any(len(word) >= 3 for word in gained):
        return None
    return blob.translate(_ROT13)


DECODERS: Mapping[str, Callable[[str], str | None]] = {
    "base64": _decode_base64,
    "hex": _decode_hex,
    "rot13": _decode_rot13,
}
"""Decoders by the name a rule's ``decode`` key uses."""
