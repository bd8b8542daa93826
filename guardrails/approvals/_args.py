"""Action arguments as canonical JSON: what an approval binds and its hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from typing import Any

from guardrails.errors import ApprovalError

__all__ = ["args_hash", "canonical_args", "to_plain"]


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_plain(value: Any) -> Any:
    """Plain JSON values from a pydantic model, a dataclass or a mapping (dates become ISO text)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    try:
        return json.loads(json.dumps(value, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ApprovalError(None, f"action arguments must be JSON values: {exc}") from None


def canonical_args(args: Any) -> str:
    """Canonical JSON text of action arguments (sorted keys, no whitespace): what an approval binds."""
    plain = to_plain(args)
    if not isinstance(plain, dict):
        raise ApprovalError(None, f"action arguments must be a JSON object, got {type(plain).__name__}")
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def args_hash(args: Any) -> str:
    """SHA-256 of :func:`canonical_args`."""
    return hashlib.sha256(canonical_args(args).encode("utf-8")).hexdigest()
