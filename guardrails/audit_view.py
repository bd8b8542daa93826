"""The audit trail as one reader may see it: sensitive values in payloads masked by the policy.

A stored audit record keeps what happened, unmasked — its hash covers it, and ``verify`` re-checks it. Whoever
reads the trail (``GET /v1/audit``, ``jidoka audit show|export``) gets each record through an
:class:`AuditReader`, which shows a sensitive field (``sensitive_fields``) only where the reader's roles see it
row by row at every site, or where the policy's ``audit.visible_fields`` grants it for the trail alone; any
other value is shown as ``***`` and the record names the fields masked (``masked_fields``). No reader (an
operator exporting for someone unnamed) sees no sensitive value at all.

Two ways a value sits in a payload:

- under a key (``unit_price``, ``value_usd``, the ``payload_keys`` of the ``audit:`` section), in the payload
  itself or in a tool result quoted as JSON text inside a model message: masked whoever wrote it (an approval
  subject carries ``value_usd`` even when its requester may not see it). A key several fields share
  (``unit_price``) is shown only to a reader who may see all of them;
- in free text (an answer, a model message, a comment): masked when the text's author could see a field the
  reader may not, by the kind the policy's ``audit.free_text`` gives the field — ``amounts`` beside a currency or
  a price word (``$12.50``, ``12.5 USD/unit``, ``PO price 12.50``), ``accounts`` (``ACCT 1234567``, an IBAN,
  eight digits or more). An amount cannot be told apart by field, so a text is shown in clear only when the
  reader may see every amount field its author could. Best effort: prose can state a value in words no pattern
  knows, which is why the trail's readers are given no price by default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from guardrails.audit.chain import AuditRecord
from guardrails.gate import field_scope
from guardrails.identity import User
from guardrails.policy.loader import Policy

__all__ = ["MASK", "AuditReader", "RecordView", "mask_free_text", "revealed_to"]

MASK = "***"
"""What a masked value is shown as."""

_NUM = r"(?P<n>\d[\d,]*(?:\.\d+)?)"
_MONEY = tuple(re.compile(p, re.IGNORECASE) for p in (
    # a currency before the amount: $12.50, US$ 1,200, USD 12, MXN 300
    rf"(?:US\$|\$|€|£|\b(?:USD|MXN|EUR)\b)\s?{_NUM}",
    # a currency or a unit price after it: 12.50 USD, 12.5 MXN/unit, 3 dollars, 0.071 per square metre
    rf"(?<![\w.]){_NUM}\s?(?:(?:USD|MXN|EUR|US\$|dollars?|pesos?|d[oó]lares|euros?)\b|\$|€"
    r"|/\s?(?:unit|ea|pc|piece|kg|m2|m²)\b|per\s+(?:unit|piece|each|kg|square\s+met(?:re|er)|m2)\b|each\b"
    r"|por\s+unidad\b|c/u\b)",
    # a price word before it: PO price 12.50 vs list 12.00, standard cost 3.2, value 1,234, precio de 12
    rf"\b(?:prices?|priced|costs?|costing|values?|valued|list|spend|amount|precio|costo|valor|importe)\b"
    rf"(?:\s+(?:of|is|was|at|to|de|es|en))?\s*[:=]?\s*(?:US\$|\$|€)?\s?{_NUM}",
))
_ACCOUNTS = (
    # an IBAN, grouped or not: DE89 3704 0044 0532 0130 00
    re.compile(r"\b(?P<n>[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,}(?: ?[A-Z0-9]{1,4})?)\b"),
    # the number after an account word: ABA 026009593, ACCT 1234567, CLABE 0021…, SWIFT DEUTDEFF
    re.compile(r"\b(?:ABA|ACCT|CLABE|IBAN|TRANSIT|SWIFT|BIC)\s*[:#]?\s*(?P<n>[A-Z0-9][A-Z0-9-]*)"),
    # any run of eight or more digits
    re.compile(r"(?<![\w-])(?P<n>\d{8,})(?![\w-])"),
)
"""Bank accounts, routing and clearing numbers."""
_TEXT_PATTERNS = {"amounts": _MONEY, "accounts": _ACCOUNTS}


@dataclass(frozen=True)
class RecordView:
    """One audit record as its reader sees it."""

    record: AuditRecord
    payload: dict[str, Any]
    """The payload with what the reader may not see shown as :data:`MASK`."""
    masked_fields: tuple[str, ...] = ()
    """The sensitive fields masked in it (sorted); empty when the payload is shown as stored."""

    def to_json_dict(self) -> dict[str, Any]:
        """The record as JSON (``AuditRecord.to_json_dict``) with this payload, plus ``masked_fields`` when any
        were masked (the stored hash then covers the stored payload, not this one)."""
        data = {**self.record.to_json_dict(), "payload": self.payload}
        if self.masked_fields:
            data["masked_fields"] = list(self.masked_fields)
        return data


@dataclass(frozen=True)
class AuditReader:
    """Masks audit payloads for one reader (``None``: nobody in particular, every sensitive value masked)."""

    policy: Policy
    reader: User | None
    _authors: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def name(self) -> str | None:
        """The reader's user id."""
        return self.reader.user_id if self.reader is not None else None

    @cached_property
    def hidden(self) -> frozenset[str]:
        """The sensitive fields this reader may not see in payloads."""
        every = self.policy.sensitive_fields()
        if self.reader is None:
            return every
        masked, aggregate_only = field_scope(self.policy, self.reader, self.policy.sites)
        return (masked | aggregate_only) - self.policy.audit.granted(self.reader.roles)

    def _revealed_to(self, user_id: str) -> frozenset[str]:
        if user_id not in self._authors:
            self._authors[user_id] = revealed_to(self.policy, user_id)
        return self._authors[user_id]

    def view(self, record: AuditRecord) -> RecordView:
        """``record`` as this reader may see it."""
        hidden = self.hidden
        if not hidden:
            return RecordView(record, dict(record.payload))
        keys, in_text = _rules(self.policy, hidden, self._revealed_to(record.user_id))
        found: set[str] = set()
        payload = _mask(dict(record.payload), keys, in_text, found)
        return RecordView(record, payload, tuple(sorted(found)))


def revealed_to(policy: Policy, user_id: str) -> frozenset[str]:
    """Sensitive fields ``user_id`` could have seen (row by row or in sums) at some site: what their text may
    state. A user the policy no longer knows may have seen anything."""
    user = policy.users.get(user_id)
    every = policy.sensitive_fields()
    if user is None:
        return frozenset(every)
    seen: set[str] = set()
    for site in policy.user_sites(user) or {""}:
        masked, _ = field_scope(policy, user, frozenset({site}) if site else frozenset())
        seen |= every - masked
    return frozenset(seen)


def mask_free_text(policy: Policy, text: str, hidden: frozenset[str], author_id: str) -> tuple[str, frozenset[str]]:
    """``text`` written by ``author_id`` (a comment, an answer) as a reader who may not see ``hidden`` sees it:
    the values of hidden fields its author could have seen are :data:`MASK`; and the fields masked."""
    if not hidden or not text:
        return text, frozenset()
    keys, in_text = _rules(policy, hidden, revealed_to(policy, author_id))
    found: set[str] = set()
    return _mask_text(text, keys, in_text, found), frozenset(found)


def _rules(policy: Policy, hidden: frozenset[str], author_saw: frozenset[str]) -> tuple[_Keys, _InText]:
    """The payload keys carrying ``hidden`` fields, and per kind of text the hidden fields the author saw."""
    keys: dict[str, frozenset[str]] = {}
    for name in hidden:
        for key in policy.audit.keys_of(name):
            keys[key] = keys.get(key, frozenset()) | {name}
    stated = hidden & author_saw
    kinds = policy.audit.free_text
    return keys, {kind: names for kind in kinds if (names := kinds[kind] & stated)}


_InText = Mapping[str, frozenset[str]]
"""Kind of text → the fields of that kind its author could see and its reader may not."""


_Keys = Mapping[str, frozenset[str]]
"""Payload key → the hidden fields it carries."""


def _mask(value: Any, keys: _Keys, in_text: _InText, found: set[str]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in keys and item is not None:
                out[key] = MASK
                found.update(keys[key])
            else:
                out[key] = _mask(item, keys, in_text, found)
        return out
    if isinstance(value, list | tuple):
        return [_mask(item, keys, in_text, found) for item in value]
    if isinstance(value, str):
        return _mask_text(value, keys, in_text, found)
    return value


def _quoted_pair(keys: _Keys) -> re.Pattern[str]:
    names = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    # "unit_price": 12.5 / "value_usd": "1,200" / "open_value_by_currency": {"USD": 3} in JSON quoted as text
    return re.compile(rf'(?P<k>"(?:{names})"\s*:\s*)(?P<v>-?[\d.eE+-]+|"(?:[^"\\]|\\.)*"|\{{[^{{}}]*\}}?)')


def _mask_text(text: str, keys: _Keys, in_text: _InText, found: set[str]) -> str:
    shown = text
    if keys and '"' in shown:
        pairs = _quoted_pair(keys)

        def pair(match: re.Match[str]) -> str:
            found.update(keys[match.group("k").split('"')[1]])
            return f'{match.group("k")}"{MASK}"'

        shown = pairs.sub(pair, shown)
    if not any(c.isdigit() for c in shown):
        return shown
    for kind, names in in_text.items():
        before = shown
        for pattern in _TEXT_PATTERNS[kind]:
            shown = pattern.sub(_masked_number, shown)
        if shown != before:
            found.update(names)
    return shown


def _masked_number(match: re.Match[str]) -> str:
    start, end = match.span("n")
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + MASK + whole[end - offset:]
