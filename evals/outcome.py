"""What one case run produced (observations) and how it scored (outcome with metric counts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CaseOutcome", "Count", "StepResult"]


class Count(BaseModel):
    """n events out of N opportunities for one metric in one case."""

    model_config = ConfigDict(frozen=True)

    n: int = 0
    N: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(n=self.n + other.n, N=self.N + other.N)


class StepResult(BaseModel):
    """One step after the turn (an approval decision, a resume, an abuse attempt)."""

    op: str
    ok: bool
    detail: str
    attempt: bool = False
    held: bool = True
    """For abuse attempts: True when it changed nothing it should not have."""


class CaseOutcome(BaseModel):
    """The scored result of one (case, user, repeat) run: what failed, and its counts per metric."""

    suite: str
    case_id: str
    user: str
    role: str
    sites: str
    channel: str
    kind: str
    family: str | None = None
    repeat: int = 0
    trace_ids: list[str] = Field(default_factory=list)
    passed: bool = False
    skipped: str | None = None
    """Why the case did not run (then it counts towards no metric)."""
    failures: list[str] = Field(default_factory=list)
    metrics: dict[str, Count] = Field(default_factory=dict)
    answer: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    steps: list[StepResult] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    """Extra evidence (leaks found, DB changes, attempts by kind in containment mode)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the case run across repeats."""
        return (self.suite, self.case_id, self.user)
