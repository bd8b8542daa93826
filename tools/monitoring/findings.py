"""What the monitoring detectors report: findings, the action they suggest, and outcomes after an action.

All three are frozen value objects; the figures are plain numbers and strings
(never prices, costs or other sensitive fields) so a finding can be stored,
shown and compared across runs as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["Figures", "Finding", "Outcome", "OutcomeStatus", "Severity", "SuggestedAction"]

Severity = Literal["low", "medium", "high"]
"""How urgent a finding is."""

OutcomeStatus = Literal["improved", "not_improving", "no_data"]
"""Whether the condition behind a finding cleared after an action."""

Figures = Mapping[str, float | int | str | None]
"""The numbers behind a finding or an outcome, by name."""


@dataclass(frozen=True)
class SuggestedAction:
    """A governed action (``tools.actions`` catalog name) with arguments valid for its args model."""

    action: str
    """The governed action's name, e.g. ``"place_quality_hold"``."""
    args: Mapping[str, Any]
    """Arguments for that action's args model."""


@dataclass(frozen=True)
class Finding:
    """One condition a detector found in the plant data."""

    detector: str
    """Detector kind, e.g. ``"scrap_spike"``."""
    subject_key: str
    """Stable de-duplication key: the same subject on the next run gives the same key."""
    site_id: str
    severity: Severity
    title: str
    """One plain sentence for people (no sensitive fields)."""
    record_ids: tuple[str, ...]
    """Evidence record ids (lots, work orders, machines, assets, PO lines ...)."""
    figures: Figures
    """The numbers that tripped the detector."""
    as_of: datetime
    """The plant as-of time the figures are from."""
    suggested: SuggestedAction | None
    """What a person would do about it; ``None`` when the finding is advisory only."""


@dataclass(frozen=True)
class Outcome:
    """Whether a finding's condition cleared after an action on its subject."""

    status: OutcomeStatus
    figures: Figures
    note: str
    """One sentence."""
