"""The ``audit:`` section: what readers of the audit trail see of the sensitive values inside event payloads.

Audit payloads hold what turns showed and did — answers, model messages, tool arguments, approval subjects and
results — so they can hold a price, a standard cost or a bank account. Someone reading the trail (``GET
/v1/audit``, ``jidoka audit show|export``) sees a sensitive field there only where ``sensitive_fields`` lets
their roles see it row by row, or where this section grants it for the audit trail alone
(``visible_fields``: role → fields). Auditors and administrators hold no plant-data grants, so by default they
read every sensitive value masked. ``payload_keys`` names the JSON keys that carry a field (or a value computed
from it, such as ``value_usd`` = quantity × ``items.standard_cost``); a field's own column name always counts.
``free_text`` says how each field reads in prose — ``amounts`` (beside a currency or a price word) or ``accounts``
(bank, routing and clearing numbers) — so answers and comments can be masked too (see
:mod:`guardrails.audit_view`); a field in no list cannot be found in prose.

Layering: audit records are not kept per site, so a lower layer's section narrows the whole trail. It may only
tighten — drop fields from a role's grant, add payload keys or free-text fields (more masking) — never grant
more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.policy._layer_parse import LayerDoc, _mapping, _str_set

__all__ = ["TEXT_KINDS", "AuditRules"]

TEXT_KINDS = ("amounts", "accounts")
"""How a sensitive value can read in free text (each kind has its patterns in :mod:`guardrails.audit_view`)."""
_KEYS = frozenset({"visible_fields", "payload_keys", "free_text", "retention"})
"""``retention`` is parsed by :mod:`guardrails.policy.retention`."""


@dataclass(frozen=True)
class AuditRules:
    """The merged ``audit:`` section of every layer."""

    visible_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Role → sensitive fields it may read unmasked in audit payloads (beyond what ``sensitive_fields`` shows it)."""
    payload_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Sensitive field → the payload keys that carry it (its column name is always one)."""
    free_text: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """A kind of :data:`TEXT_KINDS` → the sensitive fields that read that way in prose."""

    def granted(self, roles: Iterable[str]) -> frozenset[str]:
        """The fields this section grants any of ``roles`` in the audit trail."""
        return frozenset(f for role in roles for f in self.visible_fields.get(role, ()))

    def keys_of(self, name: str) -> frozenset[str]:
        """The payload keys that carry the sensitive field ``name`` (``table.column``)."""
        return self.payload_keys.get(name, frozenset()) | {name.rpartition(".")[2]}

    @classmethod
    def from_layers(cls, layers: Iterable[LayerDoc], roles: frozenset[str], fields: frozenset[str]) -> AuditRules:
        """Merge the ``audit:`` sections of ``layers`` (enterprise first); ``roles`` and ``fields`` are the policy's
        roles and sensitive fields, which every name must be one of. Only the enterprise layer grants."""
        rules = cls()
        for doc in layers:
            raw = doc.sections.get("audit")
            if raw is None:
                continue
            parsed = _parse(doc.file, raw, roles, fields)
            rules = cls(*parsed) if doc.layer == "enterprise" else rules._narrowed(doc.file, *parsed)
        return rules

    def _narrowed(self, file: str, visible: Mapping[str, frozenset[str]], keys: Mapping[str, frozenset[str]],
                  text: Mapping[str, frozenset[str]]) -> AuditRules:
        merged = dict(self.visible_fields)
        for role, names in visible.items():
            extra = sorted(names - self.visible_fields.get(role, frozenset()))
            if extra:
                raise PolicyLoosening(file, f"audit.visible_fields.{role}",
                                      f"would show {extra[0]} to {role!r} in the audit trail, which the layer above "
                                      "masks")
            merged[role] = names
        return AuditRules(merged, _union(self.payload_keys, keys), _union(self.free_text, text))


def _union(upper: Mapping[str, frozenset[str]], lower: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    merged = dict(upper)
    for name, added in lower.items():
        merged[name] = merged.get(name, frozenset()) | added
    return merged


_Parsed = tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[str, frozenset[str]]]


def _parse(file: str, raw: Any, roles: frozenset[str], fields: frozenset[str]) -> _Parsed:
    section = _mapping(file, "audit", raw)
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise PolicyError(file, f"audit.{unknown[0]}", f"unknown key (allowed: {sorted(_KEYS)})")
    visible: dict[str, frozenset[str]] = {}
    for role, names in _mapping(file, "audit.visible_fields", section.get("visible_fields")).items():
        key = f"audit.visible_fields.{role}"
        if role not in roles:
            raise PolicyError(file, key, f"unknown role {role!r}")
        visible[role] = _str_set(file, key, names)
        for name in sorted(visible[role] - fields):
            raise PolicyError(file, key, f"{name!r} is not a sensitive field (see sensitive_fields)")
    keys: dict[str, frozenset[str]] = {}
    for name, names in _mapping(file, "audit.payload_keys", section.get("payload_keys")).items():
        key = f"audit.payload_keys.{name}"
        if name not in fields:
            raise PolicyError(file, key, f"{name!r} is not a sensitive field (see sensitive_fields)")
        keys[name] = _str_set(file, key, names)
    text: dict[str, frozenset[str]] = {}
    for kind, names in _mapping(file, "audit.free_text", section.get("free_text")).items():
        key = f"audit.free_text.{kind}"
        if kind not in TEXT_KINDS:
            raise PolicyError(file, key, f"unknown kind of text (known: {list(TEXT_KINDS)})")
        text[kind] = _str_set(file, key, names)
        for name in sorted(text[kind] - fields):
            raise PolicyError(file, key, f"{name!r} is not a sensitive field (see sensitive_fields)")
    return visible, keys, text
