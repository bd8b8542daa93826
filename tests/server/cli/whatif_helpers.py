"""Shared pieces of the policy what-if tests: a draft folder from the shipped policy, and the recorded decisions."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from guardrails.audit.log import AuditKind, AuditLog
from guardrails.policy.loader import default_policy_dir

__all__ = ["gate_decisions", "shipped_draft"]


def shipped_draft(target: Path, **layers: str) -> Path:
    """A copy of the shipped policy folder at ``target`` with ``layers`` (``plants__P100`` → ``plants/P100.yaml``)
    written over it."""
    shutil.copytree(default_policy_dir(), target)
    for name, text in layers.items():
        (target / f"{name.replace('__', '/')}.yaml").write_text(text)
    return target


def gate_decisions(log: AuditLog) -> list[Any]:
    """The recorded decisions a what-if replays: tool calls and action requests."""
    return [r for r in log.export() if r.kind == AuditKind.GATE_DECISION and r.payload.get("kind") in (None, "action")]
