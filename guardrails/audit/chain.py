"""The hash chain of the audit log: event kinds, canonical JSON and hashing (the check: :mod:`.verify`).

Pure values and functions, no database. The chain rule is

    hash = SHA-256(prev_hash ‖ canonical(event))

where ``prev_hash`` is the previous record's hash as 64 lowercase hex characters
(64 zeros for the first record), ``‖`` is string concatenation, the whole string
is UTF-8 encoded, and ``canonical(event)`` is :func:`canonical_json` of
``{seq, ts, trace_id, thread_id, user_id, kind, payload, policy_hash}`` with the
payload as a JSON object. Anyone can re-check an export with ``hashlib`` alone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from guardrails.errors import AuditEventInvalid

__all__ = [
    "GENESIS_HASH",
    "MAX_ID_LENGTH",
    "AuditEvent",
    "AuditKind",
    "AuditRecord",
    "canonical_event",
    "canonical_json",
    "chain_hash",
    "event_hash",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record."""

MAX_ID_LENGTH = 255
"""Longest trace, thread, user id or policy hash accepted (the column width)."""


class AuditKind(StrEnum):
    """What an audit event records; validated on append.

    A kind is stored and hashed as its text, so adding a kind leaves every existing chain verifiable (the check
    re-hashes the stored text and never looks a kind up). Refusals are ``error`` events whose payload names the
    refusal (``{"error": "not_eligible", ...}``); reads of the log itself are ``audit_read`` events.
    """

    PROMPT = "prompt"
    SCREENING = "screening"
    MODEL_REQUEST = "model_request"
    MODEL_RESPONSE = "model_response"
    GATE_DECISION = "gate_decision"
    TOOL_RESULT = "tool_result"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    ACTION_EXECUTED = "action_executed"
    ACTION_COMPENSATED = "action_compensated"
    DOCUMENT_PUBLISHED = "document_published"
    DOCUMENT_REMOVED = "document_removed"
    ANSWER = "answer"
    ERROR = "error"
    DEGRADED = "degraded"
    POLICY_LOADED = "policy_loaded"
    AUDIT_READ = "audit_read"
    MONITOR_RUN = "monitor_run"
    """One run of the monitoring loop: the detectors run and the signals opened, updated, escalated, closed."""
    SIGNAL = "signal"
    """A signal changed (opened, updated, proposal made or refused, outcome, escalated, resolved)."""
    SIGNAL_RESPONSE = "signal_response"
    """A person acknowledged, dismissed or overrode a signal's recommendation, with the reason."""
    POLICY_WHATIF = "policy_whatif"
    """A policy what-if run: who replayed the trail under which draft (its hash), and the counts it found."""
    AUDIT_PURGED = "audit_purged"
    """A retention run destroyed data keys: which (month, kind, site), the seq ranges sealed under them, and why."""


# ``json.dumps(value, **_CANONICAL)`` builds exactly this encoder on every call; building it once gives the
# same bytes (an encoder keeps no state between calls) without the per-call setup.
_CANONICAL: dict[str, Any] = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False, "allow_nan": False}
_encode_canonical = json.JSONEncoder(**_CANONICAL).encode


def _fresh_encoder() -> Callable[[Any], str]:
    """Canonical JSON of a tree the log just copied (fresh, so acyclic, and never a bare string).

    The same C encoder ``JSONEncoder.encode`` sets up on every call, set up once and without the
    circular-reference check (which only ever raises, never changes the output). Falls back to the
    plain encoder where the C accelerator is missing.
    """
    plain = json.JSONEncoder(**_CANONICAL, check_circular=False).encode
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return plain
    encoder = json.JSONEncoder(**_CANONICAL)
    try:
        chunks = c_make_encoder(None, encoder.default, encode_basestring, encoder.indent, encoder.key_separator,
                                encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)
        probe = {"b": [1.5, -0.0, 10**20, True, None], "a": {"ñ": "\u2028\"\\"}}
        same = "".join(chunks(probe, 0)) == plain(probe)
    except Exception:  # pragma: no cover - a Python whose accelerator takes other arguments
        same = False
    if not same:  # pragma: no cover
        return plain
    return lambda value: "".join(chunks(value, 0))


_encode_fresh = _fresh_encoder()


def canonical_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, no whitespace, UTF-8 characters kept (``ensure_ascii=False``).

    Floats use Python's shortest round-trip repr, so ``json.loads`` then
    ``canonical_json`` gives the same text back; NaN and infinities are refused.
    Identical to ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)``.
    """
    return _encode_canonical(value)


class _NotPlain(Exception):
    """The fast copy met something other than an exact plain JSON type; the careful copy decides."""


def _fast_copy(value: Any) -> Any:
    """A copy of a tree of exact ``dict``/``list``/``tuple``/``str``/``int``/``bool``/``None``/finite ``float``.

    Gives the same result as :func:`_plain_json` on such trees, without building a path per node;
    raises :class:`_NotPlain` on anything else (subclasses, other mappings, non-str keys, NaN, ...).
    """
    kind = type(value)
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            it = type(item)
            out[key] = item if it is str or it is int or it is bool or item is None else _fast_copy(item)
        return out
    if kind is list or kind is tuple:
        return [item if (it := type(item)) is str or it is int or it is bool or item is None else _fast_copy(item)
                for item in value]
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float and math.isfinite(value):
        return value
    raise _NotPlain


def _plain_json(value: Any, path: str) -> Any:
    """A copy of ``value`` made of plain JSON types only, or :class:`AuditEventInvalid` naming the path."""
    if value is None or type(value) in (bool, str, int):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)  # plain str: an enum member's value, not its name
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditEventInvalid(path, f"{value!r} is not valid JSON (NaN and infinities are refused)")
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditEventInvalid(path, f"keys must be strings, got {type(key).__name__} {key!r}")
            out[str.__str__(key)] = _plain_json(item, f"{path}.{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_plain_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise AuditEventInvalid(
        path, f"{type(value).__name__} is not JSON; convert it first (e.g. model_dump(mode='json'))"
    )


def _str_or_null(value: str | None) -> str:
    if value is None:
        return "null"
    if not isinstance(value, str):  # a tampered row may hold anything
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return encode_basestring(value)


def canonical_event(
    *,
    seq: int,
    ts: str,
    trace_id: str,
    thread_id: str | None,
    user_id: str,
    kind: str,
    payload_json: str,
    policy_hash: str,
) -> str:
    """The canonical JSON of one event's hashed fields, given the payload's canonical JSON text.

    Equal to ``canonical_json({...})`` of the eight fields with the payload
    parsed (keys in sorted order, strings escaped by the same encoder); built by
    splicing so the payload is not serialised twice on the hot path.
    """
    if type(seq) is not int:
        raise TypeError(f"seq must be an int, got {type(seq).__name__}")
    return (
        f'{{"kind":{_str_or_null(kind)},"payload":{payload_json},"policy_hash":{_str_or_null(policy_hash)},'
        f'"seq":{seq},"thread_id":{_str_or_null(thread_id)},"trace_id":{_str_or_null(trace_id)},'
        f'"ts":{_str_or_null(ts)},"user_id":{_str_or_null(user_id)}}}'
    )


_KIND_JSON = {kind.value: encode_basestring(kind.value) for kind in AuditKind}


def event_hash(prev_hash: str, seq: int, ts: str, event: AuditEvent) -> str:
    """``chain_hash(prev_hash, canonical_event(...))`` for a validated event stamped ``ts`` at ``seq``.

    The append path's version of the two calls: the same text, spliced in one go (every id of a
    validated event is a str, the kind a known value and ``payload_json`` already canonical).
    """
    thread = event.thread_id
    text = (
        f'{prev_hash}{{"kind":{_KIND_JSON[event.kind.value]},"payload":{event.payload_json},'
        f'"policy_hash":{encode_basestring(event.policy_hash)},"seq":{seq},'
        f'"thread_id":{"null" if thread is None else encode_basestring(thread)},'
        f'"trace_id":{encode_basestring(event.trace_id)},"ts":{encode_basestring(ts)},'
        f'"user_id":{encode_basestring(event.user_id)}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_hash(prev_hash: str, canonical: str) -> str:
    """``SHA-256(prev_hash ‖ canonical)`` as 64 lowercase hex characters."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def _check_id(name: str, value: Any, *, nullable: bool = False, allow_empty: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise AuditEventInvalid(name, f"must be a string, got {type(value).__name__}")
    if not value and not allow_empty:
        raise AuditEventInvalid(name, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise AuditEventInvalid(name, f"longer than {MAX_ID_LENGTH} characters")
    if "\x00" in value:  # Postgres text cannot hold it; refused on every backend alike
        raise AuditEventInvalid(name, "must not contain a NUL character")


@dataclass(frozen=True, init=False)
class AuditEvent:
    """One thing that happened, as a caller hands it to the log (the log adds seq, ts and hashes).

    Validated on construction, so a bad event fails where it is made, not later
    inside a batch: ``kind`` must be an :class:`AuditKind` value and ``payload``
    a JSON object (str keys; str, int, float, bool, None, lists and objects).
    The payload is copied, so later changes to the caller's dict are not recorded.
    """

    trace_id: str
    """The turn (request) this event belongs to."""
    thread_id: str | None
    """The conversation thread, when there is one."""
    user_id: str
    """Who the event acted for."""
    kind: AuditKind
    """What the event records (a plain string of a known kind is accepted and converted)."""
    payload: Mapping[str, Any]
    """Details of the event, as a JSON object."""
    policy_hash: str
    """Hash of the policy in force ('' when no policy decided the event: before any policy was loaded, or a read of
    the log from the CLI, which the policy does not govern)."""
    payload_json: str = field(init=False, repr=False, compare=False)
    """The payload's canonical JSON text, as stored."""

    def __init__(  # written out (not generated) so the fields are validated, then set once
        self, trace_id: str, thread_id: str | None, user_id: str, kind: AuditKind, payload: Mapping[str, Any],
        policy_hash: str,
    ) -> None:
        if not (  # the common case in one test; anything else gets the checks that name the field
            type(trace_id) is str and 0 < len(trace_id) <= MAX_ID_LENGTH
            and type(user_id) is str and 0 < len(user_id) <= MAX_ID_LENGTH
            and type(policy_hash) is str and len(policy_hash) <= MAX_ID_LENGTH
            and (thread_id is None or (type(thread_id) is str and 0 < len(thread_id) <= MAX_ID_LENGTH
                                       and "\x00" not in thread_id))
            and "\x00" not in trace_id and "\x00" not in user_id and "\x00" not in policy_hash
        ):
            _check_id("trace_id", trace_id)
            _check_id("thread_id", thread_id, nullable=True)
            _check_id("user_id", user_id)
            _check_id("policy_hash", policy_hash, allow_empty=True)
        if type(kind) is not AuditKind:
            try:
                kind = AuditKind(kind)
            except ValueError:
                known = ", ".join(k.value for k in AuditKind)
                raise AuditEventInvalid("kind", f"unknown kind {kind!r}; known: {known}") from None
        copy: Any = None
        if type(payload) is dict:
            try:
                copy = _fast_copy(payload)
            except _NotPlain:
                copy = None
        if copy is None:
            if not isinstance(payload, Mapping):
                raise AuditEventInvalid("payload", f"must be a JSON object, got {type(payload).__name__}")
            copy = _plain_json(payload, "payload")
        fields = self.__dict__  # frozen: each field is set once, here, as the generated __init__ would
        fields["trace_id"] = trace_id
        fields["thread_id"] = thread_id
        fields["user_id"] = user_id
        fields["kind"] = kind
        fields["payload"] = copy
        fields["policy_hash"] = policy_hash
        fields["payload_json"] = _encode_fresh(copy)


@dataclass(frozen=True)
class AuditRecord:
    """One stored row of the audit log."""

    seq: int
    """Position in the chain, 1..n without gaps."""
    ts: str
    """When the event was handed to the log: UTC ISO 8601 with microseconds (text, so hashing is exact)."""
    trace_id: str
    """The turn this event belongs to."""
    thread_id: str | None
    """The conversation thread, when there is one."""
    user_id: str
    """Who the event acted for."""
    kind: str
    """An :class:`AuditKind` value (a stored row is shown as it is, even if tampered with)."""
    payload: Mapping[str, Any]
    """Details of the event."""
    policy_hash: str
    """Hash of the policy in force."""
    prev_hash: str
    """The previous record's hash (64 zeros for seq 1)."""
    hash: str
    """``SHA-256(prev_hash ‖ canonical(event))``."""

    @classmethod
    def of(
        cls, seq: int, ts: str, trace_id: str, thread_id: str | None, user_id: str, kind: str,
        payload: Mapping[str, Any], policy_hash: str, prev_hash: str, hash: str,
    ) -> AuditRecord:
        """The same record as the constructor makes, built without ten frozen-attribute writes (append path)."""
        record = object.__new__(cls)
        record.__dict__.update(seq=seq, ts=ts, trace_id=trace_id, thread_id=thread_id, user_id=user_id, kind=kind,
                               payload=payload, policy_hash=policy_hash, prev_hash=prev_hash, hash=hash)
        return record

    def to_json_dict(self) -> dict[str, Any]:
        """The record as JSON-ready fields (what ``jidoka audit export`` writes per line)."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "trace_id": self.trace_id,
            "thread_id": self.thread_id,
            "user_id": self.user_id,
            "kind": self.kind,
            "payload": self.payload,
            "policy_hash": self.policy_hash,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
