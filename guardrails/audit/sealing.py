"""Sealed audit payload fields: the text of prompts, answers and model messages encrypted at rest.

The fields in :data:`SEALED_FIELDS` — what people asked, what was answered, and what went to and came from the
model (which includes the tool results the model read) — are stored as an envelope
``{"sealed": "aes-256-gcm", "key": KEY_ID, "n": NONCE, "c": CIPHERTEXT}`` (base64) instead of their value. The
value is the canonical JSON of the field, encrypted under the data key of its month, kind and site
(:mod:`guardrails.audit.keys`) with the event's trace id, kind, field name and key id as associated data, so a
ciphertext cannot be moved to another event or field. The hash chain covers the stored envelope: the chain
verifies whether or not the data key still exists. Reading through :class:`guardrails.audit.log.AuditLog` opens
the envelopes again; a field whose key retention destroyed reads as :data:`PURGED` text naming the key.
Every other field (ids, decisions, rule ids, counts) stays in clear: the what-if replay, model health and the
viewer's masking work on them unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from guardrails.audit.chain import AuditEvent, AuditKind, AuditRecord
from guardrails.audit.keys import AuditKeys, key_id_for

__all__ = ["ALL_SITES_KEY", "PURGED", "SEALED_FIELDS", "Sealer", "sealed_key_ids"]

SEALED_FIELDS: Mapping[str, tuple[str, ...]] = {
    AuditKind.PROMPT.value: ("text",),
    AuditKind.ANSWER.value: ("text",),
    AuditKind.MODEL_REQUEST.value: ("last",),
    AuditKind.MODEL_RESPONSE.value: ("content",),
}
"""Event kind → the payload fields stored sealed."""

ALL_SITES_KEY = "*"
"""The site part of a key id for events of users with several sites, every site, or none (system events)."""

PURGED = "[purged by retention: data key {key} destroyed]"
"""What a sealed field reads as once its data key is destroyed."""

_SCHEME = "aes-256-gcm"
_UNREADABLE = "[sealed value failed its integrity check: run `jidoka audit verify`]"


def _is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and value.get("sealed") == _SCHEME and isinstance(value.get("key"), str)


def _aad(trace_id: str, kind: str, field: str, key_id: str) -> bytes:
    return "\0".join((trace_id, kind, field, key_id)).encode("utf-8")


def sealed_key_ids(kind: str, payload: Mapping[str, Any]) -> set[str]:
    """The data key ids the sealed fields of a ``kind`` payload name."""
    return {str(payload[f]["key"]) for f in SEALED_FIELDS.get(kind, ()) if _is_envelope(payload.get(f))}


class Sealer:
    """Seals events before they are hashed and stored, and opens records read back."""

    def __init__(self, keys: AuditKeys, site_of: Callable[[str], str]) -> None:
        """``site_of`` maps a user id to the site its events' keys belong to (:data:`ALL_SITES_KEY` for users
        with several sites or none)."""
        self.keys = keys
        self._site_of = site_of

    def seal(self, event: AuditEvent, ts: str) -> AuditEvent:
        """``event`` with its sealed fields encrypted (the event itself when it has none)."""
        fields = [f for f in SEALED_FIELDS.get(str(event.kind), ()) if f in event.payload]
        if not fields:
            return event
        month, kind, site = ts[:7], str(event.kind), self._site_of(event.user_id) or ALL_SITES_KEY
        key_id = key_id_for(month, kind, site)
        aead = AESGCM(self.keys.key_for(key_id, month=month, kind=kind, site=site, now=ts))
        payload = dict(event.payload)
        for field in fields:
            plain = json.dumps(payload[field], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            nonce = os.urandom(12)
            sealed = aead.encrypt(nonce, plain.encode("utf-8"), _aad(event.trace_id, kind, field, key_id))
            payload[field] = {"sealed": _SCHEME, "key": key_id, "n": base64.b64encode(nonce).decode("ascii"),
                              "c": base64.b64encode(sealed).decode("ascii")}
        return AuditEvent(event.trace_id, event.thread_id, event.user_id, event.kind, payload, event.policy_hash)

    def open_records(self, records: Iterable[AuditRecord]) -> list[AuditRecord]:
        """``records`` with their sealed fields opened (one key lookup per distinct key for the whole batch)."""
        items = list(records)
        wanted: set[str] = set()
        for record in items:
            wanted |= sealed_key_ids(record.kind, record.payload)
        if not wanted:
            return items
        keys = self.keys.existing(wanted)
        return [self._open(record, keys) for record in items]

    def _open(self, record: AuditRecord, keys: Mapping[str, bytes]) -> AuditRecord:
        fields = [f for f in SEALED_FIELDS.get(record.kind, ()) if _is_envelope(record.payload.get(f))]
        if not fields:
            return record
        payload = dict(record.payload)
        for field in fields:
            envelope = payload[field]
            key = keys.get(envelope["key"])
            if key is None:
                payload[field] = PURGED.format(key=envelope["key"])
                continue
            try:
                plain = AESGCM(key).decrypt(base64.b64decode(envelope["n"]), base64.b64decode(envelope["c"]),
                                            _aad(record.trace_id, record.kind, field, envelope["key"]))
                payload[field] = json.loads(plain.decode("utf-8"))
            except (InvalidTag, binascii.Error, ValueError, TypeError, KeyError):
                payload[field] = _UNREADABLE
        return replace(record, payload=payload)
