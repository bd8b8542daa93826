"""Process-CPU accounting of the governance work inside a governed turn (by component).

The governance functions are wrapped for the duration of a measurement; only the
outermost wrapped call counts (a gate decision that adds an audit event counts as
gate work once). The wrapper's own cost is calibrated and subtracted per call.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import agent.graph as graph_module
import guardrails.governed as governed_module
from agent.copilot import Copilot
from guardrails.audit.log import AuditBuffer, AuditLog
from guardrails.audit.trace import Trace
from guardrails.governed import GovernedTools
from guardrails.turn_guard import TurnGuard

__all__ = ["COMPONENTS", "GovernanceTimer", "governance_timer"]

COMPONENTS: dict[str, list[tuple[Any, str]]] = {
    "gate": [(GovernedTools, "decide")],
    "identity and thread checks": [(GovernedTools, "identify"), (Copilot, "thread"),
                                   (Copilot, "_settle_decided")],
    "input screening": [(TurnGuard, "screen_prompt")],
    "data screening and spotlighting": [(governed_module, "screen_and_spotlight")],
    "grounding": [(graph_module, "check_grounding"), (graph_module, "collect_evidence")],
    "output screening": [(TurnGuard, "screen_answer")],
    "audit events (build, stamp)": [(Trace, "event"), (AuditBuffer, "add")],
    "audit write (hash chain, commit, fsync)": [(AuditLog, "_write")],
}
"""What counts as governance, by component: the functions whose CPU is attributed to it."""


class GovernanceTimer:
    """Accumulates process CPU seconds spent inside wrapped functions, per component (outermost calls only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(COMPONENTS, 0.0)
        self.calls: Counter[str] = Counter()
        self._depth = 0
        self.overhead_s = 0.0
        """In-interval cost of the wrapper itself per call (calibrated), subtracted in :meth:`net`."""

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its outermost calls timed under ``label``."""
        clock = time.thread_time  # this thread only: langgraph writes checkpoints on background threads meanwhile

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + clock() - start
                self.calls[label] += 1
                self._depth -= 1
        return timed

    def calibrate(self, n: int = 20000) -> None:
        """Measure the wrapper's own in-interval cost on a no-op (process_time is not free)."""
        probe = GovernanceTimer()
        noop = probe.wrap("noop", lambda: None)
        for _ in range(n):
            noop()
        self.overhead_s = probe.seconds.get("noop", 0.0) / n

    def reset(self) -> None:
        """Forget what was accumulated (the calibration stays)."""
        self.seconds = dict.fromkeys(COMPONENTS, 0.0)
        self.calls.clear()

    def net(self) -> dict[str, float]:
        """CPU seconds per component, less the wrapper's calibrated cost (never below zero)."""
        return {label: max(0.0, self.seconds.get(label, 0.0) - self.calls[label] * self.overhead_s)
                for label in COMPONENTS}


@contextmanager
def governance_timer(timer: GovernanceTimer | None = None) -> Iterator[GovernanceTimer]:
    """Wrap the governance functions while the block runs; restore them after."""
    timer = timer or GovernanceTimer()
    originals = [(label, owner, name, getattr(owner, name))
                 for label, targets in COMPONENTS.items() for owner, name in targets]
    for label, owner, name, original in originals:
        setattr(owner, name, timer.wrap(label, original))
    try:
        yield timer
    finally:
        for _label, owner, name, original in originals:
            setattr(owner, name, original)
