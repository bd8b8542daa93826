"""Benchmark figures: a number (or null with the reason it is missing), its unit, goal and conditions."""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.runtime import RuntimeFactory

from evals.errors import EvalError

__all__ = [
    "KEY_PACKAGES", "REQUIRED_KEYS", "BenchContext", "BenchFigure", "SectionUnavailable", "load_average",
    "machine_info",
]

REQUIRED_KEYS = (
    "policy_decision_p50_us", "policy_decision_p99_us",
    "policy_decision_1000_rules_p50_us", "policy_decision_1000_rules_p99_us",
    "pycasbin_rbac_p50_us", "policy_vs_pycasbin",
    "governed_turn_ratio", "governance_cpu_ms_per_turn",
    "audit_append_per_s", "audit_verify_per_s",
    "retrieval_p50_ms", "embed_query_p50_ms", "retrieval_recall_at_5",
    "chat_turns_per_s", "chat_p99_ms",
    "checkpoint_bytes_per_turn_first_20", "checkpoint_bytes_per_turn_last_20", "checkpoint_bytes_vs_raw_messages",
    "rules_model_accuracy",
)
"""Top-level JSON keys every report carries (a number, or null with a reason)."""

KEY_PACKAGES = ("langgraph", "langgraph-checkpoint-sqlite", "langchain-core", "sqlalchemy", "pydantic", "fastapi",
                "uvicorn", "httpx", "pycasbin", "chromadb", "onnxruntime", "tokenizers", "numpy")

_GOAL = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9.]+)\s*$")


@dataclass(frozen=True)
class BenchContext:
    """What every section gets: quick or full, a scratch folder, a progress callback, the runtime factory."""

    quick: bool
    tmp: Path
    progress: Callable[[str], None]
    shared: dict[str, Any] = field(default_factory=dict)
    """Expensive inputs several sections use (the 1,000-rule policy), built once per run."""
    factory: RuntimeFactory | None = None
    """Makes the runtimes and copilots measured (``jidoka bench`` gives one); ``None``: sections that need one are
    null."""

    def runtimes(self) -> RuntimeFactory:
        """The runtime factory; :class:`SectionUnavailable` when the run has none."""
        if self.factory is None:
            raise SectionUnavailable("no runtime factory was given (run it through `jidoka bench`)")
        return self.factory


class SectionUnavailable(EvalError):
    """A benchmark section cannot run here (a dependency is missing); its figures are reported as null."""


@dataclass(frozen=True)
class BenchFigure:
    """One measured number, or ``None`` with the reason it could not be measured."""

    key: str
    """Top-level JSON key (stable across releases)."""
    value: float | None
    unit: str
    goal: str
    """The target, e.g. ``<= 5``; empty when there is none."""
    conditions: str
    reason: str = ""
    """Why ``value`` is ``None`` (empty when measured)."""

    def __post_init__(self) -> None:
        if self.value is None and not self.reason:
            raise ValueError(f"figure {self.key}: a missing value needs a reason")

    @classmethod
    def missing(cls, key: str, reason: str, *, unit: str = "", goal: str = "") -> BenchFigure:
        """A figure that could not be measured, and why."""
        return cls(key, None, unit, goal, "", reason)

    @property
    def met(self) -> bool | None:
        """Whether the value meets the goal (``None``: no goal, or no value)."""
        match = _GOAL.match(self.goal)
        if match is None or self.value is None:
            return None
        op, bound = match.group(1), float(match.group(2))
        return {"<=": self.value <= bound, ">=": self.value >= bound, "<": self.value < bound,
                ">": self.value > bound}[op]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages now (None where the platform has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU model and cores, Python, platform, key package versions."""
    load = load_average()
    try:
        memory_gib: float | None = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gib = None
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "load_average_at_start": load,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in KEY_PACKAGES},
        "jidoka": _version("jidoka"),
    }
