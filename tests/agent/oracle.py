"""Expected facts for the rules-model question set, computed by direct SQL on the demo plant.

Each oracle re-derives what a correct answer must state from the plant tables
and the shared semantics of /work/notes/COMMON.md (never from tool or model
output); planted scenarios come from the generator's manifest. A fact is an id,
a number, a percentage, a date or a phrase that the answer must contain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evals.oracle import Fact, OracleContext  # the same fact and context types as the eval suites' oracle
from tests.agent.oracle_ops import (
    asset,
    assets_risk,
    downtime,
    drift,
    genealogy,
    line_perf,
    po_line,
    quality,
    reconciliation,
    scrap,
    spares,
    summary,
    wo_asset_risk,
    wo_shortage,
    work_order,
    work_orders,
)
from tests.agent.oracle_supply import (
    alternatives,
    below_reorder,
    lot_location,
    open_lines,
    projection,
    scorecard,
    stock,
    triage,
)
from tests.agent.oracle_understanding import (
    demand_orders,
    lot_state,
    mos,
    moves,
    outstanding,
    running,
    sales,
    spare_cover,
)

__all__ = ["ORACLES", "Fact", "OracleContext"]


# ------------------------------------------------------------------------------------------ no tool
def says(ctx: OracleContext, phrases: list[str], ids: list[str] | None = None, **_: Any) -> list[Fact]:
    """Answers without tools (clarifications, refusals): phrases and candidate ids the text must contain."""
    return [*(Fact("text", p) for p in phrases), *(Fact("id", i) for i in ids or [])]


ORACLES: dict[str, Callable[..., list[Fact]]] = {
    f.__name__: f for f in (stock, lot_location, projection, below_reorder, open_lines, triage, scorecard,
                            alternatives, work_orders, wo_asset_risk, line_perf, downtime, drift, scrap, quality,
                            genealogy, assets_risk, spares, summary, reconciliation, po_line, work_order, asset,
                            wo_shortage, says,
                            # the held-out understanding set's new question types (tests/agent/oracle_understanding.py)
                            sales, lot_state, demand_orders, moves, mos, spare_cover, running, outstanding)
}
