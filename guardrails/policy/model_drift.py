"""The policy's ``models.drift`` thresholds: when a model's behaviour over its newest turns raises an alert.

Three rates are watched per model (see :mod:`guardrails.model_health` for how each is counted): how often the
fallback had to answer for it, how often it proposed a tool call the gate refused or that was malformed, and how
often grounding removed an unsupported figure from its answer. A rate above its ``max_*`` over the newest
``window_turns`` turns raises an alert once at least ``min_turns`` turns are in the window. Lower layers may only
tighten: lower a ``max_*`` or ``min_turns``; ``window_turns`` is the top layer's. Without a ``drift`` section the
defaults below apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from guardrails.errors import ModelPolicyError, ModelPolicyLoosening

__all__ = ["DRIFT_MEASURES", "DriftThresholds"]

DRIFT_MEASURES = ("fallback", "refusal", "correction")
"""The watched rates, in the order they are reported."""

_TOP = frozenset({"window_turns", "min_turns", *(f"max_{m}_rate" for m in DRIFT_MEASURES)})
_LOWER = _TOP - {"window_turns"}


@dataclass(frozen=True)
class DriftThresholds:
    """Alert thresholds after every policy layer."""

    window_turns: int = 200
    """The newest turns each rate is computed over."""
    min_turns: int = 30
    """Fewer turns than this in the window: rates are reported, no alert is raised."""
    max_fallback_rate: float = 0.10
    max_refusal_rate: float = 0.20
    max_correction_rate: float = 0.25
    decided_in: Mapping[str, str] | None = None
    """Threshold name → the policy file that set it (absent: the built-in default)."""

    def limit(self, measure: str) -> float:
        """The ``max_<measure>_rate`` threshold."""
        if measure not in DRIFT_MEASURES:
            raise ValueError(f"unknown drift measure {measure!r}; known: {', '.join(DRIFT_MEASURES)}")
        return float(getattr(self, f"max_{measure}_rate"))

    def source(self, name: str) -> str:
        """The policy file that set threshold ``name`` (``built-in default`` when none did)."""
        return (self.decided_in or {}).get(name, "built-in default")

    @classmethod
    def from_sections(cls, sections: Sequence[tuple[str, Mapping[str, Any]]], top_file: str) -> DriftThresholds:
        """The thresholds from ``[(file, models section), ...]``, top layer first."""
        thresholds = cls()
        for file, section in sections:
            if "drift" in section:
                thresholds = thresholds._layer(file, section["drift"], top=file == top_file)
        return thresholds

    def _layer(self, file: str, raw: object, *, top: bool) -> DriftThresholds:
        allowed = _TOP if top else _LOWER
        if not isinstance(raw, Mapping):
            raise ModelPolicyError(file, "models.drift", f"must be a mapping with {sorted(allowed)}")
        unknown = sorted(str(k) for k in raw if k not in allowed)
        if unknown:
            raise ModelPolicyError(file, f"models.drift.{unknown[0]}", f"unknown key here; allowed: {sorted(allowed)}")
        changes: dict[str, Any] = {}
        for name, value in raw.items():
            key = f"models.drift.{name}"
            if name.startswith("max_"):
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise ModelPolicyError(file, key, f"must be a rate between 0 and 1, got {value!r}")
                value = float(value)
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelPolicyError(file, key, f"must be a whole number >= 1, got {value!r}")
            if not top and value > getattr(self, name):
                raise ModelPolicyLoosening(file, key, f"would raise {name} to {value} above "
                                                      f"{getattr(self, name)} ({self.source(name)})")
            changes[name] = value
        merged = replace(self, **changes, decided_in={**(self.decided_in or {}), **dict.fromkeys(changes, file)})
        if merged.min_turns > merged.window_turns:
            raise ModelPolicyError(file, "models.drift.min_turns",
                                   f"{merged.min_turns} is more than window_turns ({merged.window_turns})")
        return merged
