"""The rules model's version: a digest of its own code and data, so the audit says exactly which rules answered."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["rules_version"]

_ROOT = Path(__file__).resolve().parent


@functools.cache
def rules_version() -> str:
    """``rules-<12 hex>``: SHA-256 over the relative path and bytes of every ``.py`` and ``.yaml`` file of
    ``agent/rules`` (computed once per process). Any change to what the rules model does changes it."""
    digest = hashlib.sha256()
    for path in sorted(p for p in _ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".yaml"}):
        digest.update(path.relative_to(_ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return f"rules-{digest.hexdigest()[:12]}"
