"""Profiling the governance cost of a turn: a pyinstrument profile plus an in-turn vs warm-replay breakdown.

The breakdown answers "is the governance work slow, or slow only where it runs?": each
component's CPU inside real governed turns (cache-cold: LangGraph, pydantic and SQLAlchemy
run between the governance steps) against the same calls, captured from a turn and
replayed back to back (cache-warm). State-dependent calls (the audit commit, the thread's
checkpoint reads) are not replayed.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.bench._governance_timer import COMPONENTS, GovernanceTimer, governance_timer

if TYPE_CHECKING:
    from server.runtime import RuntimeFactory

__all__ = ["governance_breakdown", "profile_governance"]

_NOT_REPLAYED = {"identity and thread checks", "audit write (hash chain, commit, fsync)"}


def _capture(turn: Callable[[int], None], turns: int) -> dict[str, list[tuple[Any, tuple[Any, ...], dict[str, Any]]]]:
    """The outermost governance calls (function, args, kwargs) of ``turns`` turns, by component."""
    captured: dict[str, list[tuple[Any, tuple[Any, ...], dict[str, Any]]]] = defaultdict(list)
    originals = [(label, owner, name, getattr(owner, name))
                 for label, targets in COMPONENTS.items() for owner, name in targets]
    depth = [0]

    def recording(label: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            try:
                captured[label].append((fn, args, kwargs))
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
        return wrapper

    for label, owner, name, original in originals:
        setattr(owner, name, recording(label, original))
    try:
        for i in range(turns):
            turn(i)
    finally:
        for _label, owner, name, original in originals:
            setattr(owner, name, original)
    return captured


def governance_breakdown(turn: Callable[[int], None], *, turns: int = 40,
                         replays: int = 50) -> dict[str, tuple[float, float | None]]:
    """Per component: (in-turn CPU ms per turn, warm-replay CPU ms per turn or None when not replayed)."""
    timer = GovernanceTimer()
    timer.calibrate()
    with governance_timer(timer):
        for i in range(turns):
            turn(i)
    in_turn = {label: seconds / turns * 1000 for label, seconds in timer.net().items()}
    sample = 4
    captured = _capture(turn, sample)
    result: dict[str, tuple[float, float | None]] = {}
    for label in COMPONENTS:
        calls = captured.get(label, [])
        if label in _NOT_REPLAYED or not calls:
            result[label] = (in_turn[label], None)
            continue
        start = time.thread_time()
        for _ in range(replays):
            for fn, args, kwargs in calls:
                fn(*args, **kwargs)
        result[label] = (in_turn[label], (time.thread_time() - start) / replays / sample * 1000)
    return result


def profile_governance(target: Path, *, factory: RuntimeFactory, turns: int = 200) -> str:
    """Profile ``turns`` governed turns (a copilot ``factory`` builds) with pyinstrument into ``target`` (.html,
    else text); return a summary."""
    from pyinstrument import Profiler

    from evals.bench.plant import demo_plant_url
    from evals.bench.turn import governed_turn

    today = factory.settings.today
    with tempfile.TemporaryDirectory(prefix="jidoka-profile-") as tmp:
        section = Path(tmp) / "profile"
        section.mkdir()
        with governed_turn(factory, demo_plant_url(section, today), section, today) as turn:
            for i in range(8):
                turn(i)
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for i in range(turns):
                turn(i)
            profiler.stop()
            if target.suffix.lower() in (".html", ".htm"):
                target.write_text(profiler.output_html())
            else:
                target.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
            breakdown = governance_breakdown(turn, turns=max(20, turns // 5))
    lines = ["governance CPU per turn by component over governed turns (ms): in-turn vs the same calls replayed warm"]
    for label, (hot, warm) in breakdown.items():
        replay = "not replayed (state-dependent)" if warm is None else f"{warm:.3f}"
        lines.append(f"  {label:42s} {hot:.3f}   {replay}")
    total_hot = sum(h for h, _ in breakdown.values())
    total_warm = sum(w for _, w in breakdown.values() if w is not None)
    lines.append(f"  {'total':42s} {total_hot:.3f}   {total_warm:.3f} (replayed components only)")
    return "\n".join(lines)
