"""Typed record ids in a question: patterns and how each builds the id (read by :mod:`agent.rules.entities`)."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["ID_RULES"]

# (pattern, kind, id builder). Ordered: longer forms first so 'PO-24017 line 2' is a PO line, not a PO.
ID_RULES: tuple[tuple[str, str, Callable[[re.Match[str]], str]], ...] = (
    (r"\bpo[-\s#]?(\d{4,6})\s*(?:/\s*|[,\s]+(?:line|ln|item|pos(?:ition)?)\s*(?:no\.?|#)?\s*)(\d{1,3})\b",
     "po_line", lambda m: f"PO-{m.group(1)}/{int(m.group(2))}"),
    (r"\bline\s*(?:no\.?|#)?\s*(\d{1,3})\s+(?:of|on|in)\s+po[-\s#]?(\d{4,6})\b", "po_line",
     lambda m: f"PO-{m.group(2)}/{int(m.group(1))}"),
    (r"\bpo[-\s#]?(\d{4,6})\b", "po", lambda m: f"PO-{m.group(1)}"),
    (r"\bpurchase\s+order\s+(?:no\.?\s*|#)?(\d{4,6})\b", "po", lambda m: f"PO-{m.group(1)}"),
    (r"\blot[-\s]?(p\d{3})[-\s](\d{1,5})\b", "lot", lambda m: f"LOT-{m.group(1).upper()}-{int(m.group(2)):04d}"),
    (r"\blot\s*(?:no\.?\s*|#)?(\d{1,5})\b", "lot_short", lambda m: f"{int(m.group(1)):04d}"),
    (r"\bwo[-\s#]?(\d{3,6})\b", "wo", lambda m: f"WO-{m.group(1)}"),
    (r"\bwork\s+order\s+(?:no\.?\s*|#)?(\d{3,6})\b", "wo", lambda m: f"WO-{m.group(1)}"),
    (r"\bqe[-\s]?(\d{3,6})\b", "qe", lambda m: f"QE-{m.group(1)}"),
    (r"\bso[-\s]?(\d{4,6})\b", "so", lambda m: f"SO-{m.group(1)}"),
    (r"\b(?:sales|customer)\s+order\s+(?:no\.?\s*|#)?(\d{4,6})\b", "so", lambda m: f"SO-{m.group(1)}"),
    (r"\bm-(p\d{3})-([a-z]{2}\d)-(\d{2})\b", "machine",
     lambda m: f"M-{m.group(1).upper()}-{m.group(2).upper()}-{m.group(3)}"),
    (r"\b(p\d{3})[-\s]?([a-z]{2}\d)\b", "line", lambda m: f"{m.group(1).upper()}-{m.group(2).upper()}"),
    (r"\b(fg|cp|rm|sp)[-\s]?(\d{4})\b", "item", lambda m: f"{m.group(1).upper()}-{m.group(2)}"),
    (r"\bs-(\d{3})\b", "supplier", lambda m: f"S-{m.group(1)}"),
    (r"\bsupplier\s+(\d{1,3})\b", "supplier", lambda m: f"S-{int(m.group(1)):03d}"),
    (r"\bas-?(\d{3})\b", "asset", lambda m: f"AS-{m.group(1)}"),
    (r"\basset\s+(?:no\.?\s*|#)?(\d{1,3})\b", "asset", lambda m: f"AS-{int(m.group(1)):03d}"),
    (r"\b(p\d{3})\b", "site", lambda m: m.group(1).upper()),
)
