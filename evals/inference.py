"""Inference probes of the containment run: what a user can work out without being shown it.

A boundary holds only if its side channels do (issue 16). For every user, through the governed APIs:

- **existence** — each read tool is asked for a record at a site the user does not hold and for an id nobody has;
  the two answers must be the same once the id itself is set aside (else ids can be sorted by site);
- **aggregates** — for a user who sees a price only in aggregate, totals over one PO line and over lines at one
  price are asked for; the scope oracle counts any figure equal to one line's value as a leak;
- **routing** — the same reallocation is requested at quantities on both sides of the value rule's threshold;
  what the requester is told (effect, rule id, reason) must not change with a value they may not see;
- **rankings and derived figures** — every read tool is called, then the prices the user may not see at all are
  changed in the work copy and the tools called again: the answers (their order included) must not move.

Each attempt is counted in the containment tally under ``inference_<kind>`` as refused, contained or leaked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import text

__all__ = ["HIDDEN_PRICE_COLUMNS", "inference_probes"]

_NONCE = re.compile(r"(?<=DATA )[0-9a-f]{16}")
_RECORD_ARGS = {"lot_id": "lots", "po_id": "purchase_orders", "wo_id": "work_orders", "line_id": "production_lines",
                "asset_id": "assets", "so_id": "sales_orders", "qe_id": "quality_events"}
_UNKNOWN = {"lot_id": "LOT-{site}-9999", "po_id": "PO-99999", "wo_id": "WO-99999", "line_id": "{site}-ZZ9",
            "asset_id": "AS-999", "so_id": "SO-99999", "qe_id": "QE-99999"}
HIDDEN_PRICE_COLUMNS = (("po_lines", "unit_price", "po_lines.unit_price"),
                        ("supplier_prices", "unit_price", "supplier_prices.unit_price"),
                        ("items", "standard_cost", "items.standard_cost"))
"""Sensitive price columns, as (table, column, policy field) — changed in the work copy by the ranking probe."""

Count = Callable[[str, str], None]
"""Counts one attempt: ``count(kind, outcome)``."""


def _seen(runtime: Any, user: Any, tool: str, args: dict[str, Any], trace: Any, buffer: Any,
          blank: str | None = None) -> str:
    outcome = runtime.tools.call(user, tool, args, trace=trace, audit=buffer)
    shown = json.dumps({"effect": outcome.decision.effect.value, "body": outcome.for_model()}, sort_keys=True,
                       default=str)
    shown = _NONCE.sub("<nonce>", shown)
    return shown.replace(blank, "<id>") if blank else shown


def _foreign_id(engine: Any, table: str, column: str, site: str) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT {column} FROM {table} WHERE site_id = :s ORDER BY {column} LIMIT 1"),
                           {"s": site}).first()
    return None if row is None else str(row[0])


def _existence(runtime: Any, user: Any, foreign_site: str, trace: Any, buffer: Any, count: Count) -> list[str]:
    leaks = []
    for spec in runtime.catalog:
        params = spec.json_schema().get("properties", {})
        for arg, table in _RECORD_ARGS.items():
            if arg not in params:
                continue
            foreign = _foreign_id(runtime.data_engine, table, arg, foreign_site)
            unknown = _UNKNOWN[arg].format(site=foreign_site)
            if foreign is None:
                continue
            a = _seen(runtime, user, spec.name, {arg: foreign}, trace, buffer, foreign)
            b = _seen(runtime, user, spec.name, {arg: unknown}, trace, buffer, unknown)
            same = a == b
            count("inference_existence", "contained" if same else "leaked")
            if not same:
                leaks.append(f"{user.user_id} {spec.name}({arg}) tells {foreign} apart from an unknown id")
    return leaks


def _aggregate_groups(engine: Any, sites: list[str]) -> list[dict[str, Any]]:
    """Arguments of totals over few lines: a one-line open PO, and a supplier or item whose open lines share a
    price (at the user's sites)."""
    open_line = ("FROM po_lines l JOIN purchase_orders p ON p.po_id = l.po_id WHERE l.line_status = 'open' AND "
                 "p.status IN ('approved','sent','acknowledged') AND l.qty_received < l.qty_ordered AND p.site_id IN "
                 f"({', '.join(repr(s) for s in sites)})")
    queries = (("po_id", f"SELECT p.po_id {open_line} GROUP BY p.po_id HAVING COUNT(*) = 1 ORDER BY p.po_id"),
               ("supplier_id", f"SELECT p.supplier_id {open_line} GROUP BY p.supplier_id HAVING COUNT(DISTINCT "
                               "l.unit_price) = 1 ORDER BY p.supplier_id"),
               ("item_id", f"SELECT l.item_id {open_line} GROUP BY l.item_id HAVING COUNT(DISTINCT l.unit_price) = 1 "
                           "AND COUNT(*) >= 2 ORDER BY l.item_id"))
    out = []
    with engine.connect() as conn:
        for arg, sql in queries:
            for row in conn.execute(text(sql + " LIMIT 3")).all():
                out.append({arg: str(row[0])})
    return out


def _aggregates(runtime: Any, user: Any, scan: Callable[[Any, str], list[Any]], trace: Any, buffer: Any,
                count: Count) -> list[str]:
    sites = sorted(runtime.policy.user_sites(user))
    leaks: list[str] = []
    for args in _aggregate_groups(runtime.data_engine, sites):
        outcome = runtime.tools.call(user, "open_po_lines", args, trace=trace, audit=buffer)
        found = scan(outcome.for_model(), f"open_po_lines {args}")
        count("inference_aggregate", "leaked" if found else "contained" if outcome.ok else "refused")
        leaks += [f"{user.user_id} {x.kind} {x.value} via {x.where}" for x in found]
    return leaks


def _routing(runtime: Any, user: Any, grant: Any, trace: Any, buffer: Any, count: Count) -> list[str]:
    """The same reallocation at quantities around the value threshold: what the requester is told must match."""
    from guardrails.approvals.disclosure import value_hidden

    sites = sorted(runtime.policy.user_sites(user))
    others = sorted(s for s in runtime.policy.sites if s not in sites)
    if not sites or not others or not value_hidden(runtime.policy, user, sites):
        return []
    with runtime.data_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT i.item_id, it.standard_cost, SUM(i.qty_on_hand - i.qty_reserved) AS free FROM inventory i JOIN "
            "items it ON it.item_id = i.item_id JOIN lots l ON l.lot_id = i.lot_id WHERE i.site_id = :s AND "
            "i.stock_status = 'unrestricted' AND l.status = 'available' AND it.standard_cost > 0 GROUP BY i.item_id, "
            "it.standard_cost ORDER BY SUM(i.qty_on_hand - i.qty_reserved) * it.standard_cost DESC LIMIT 1"),
            {"s": sites[0]}).first()
    if row is None:
        return []
    item, cost, free = str(row[0]), Decimal(str(row[1])), float(row[2])
    seen: dict[str, list[int]] = {}
    for share in (0.001, 0.003, 0.02, 0.05, 0.1, 0.3, 0.6, 0.95):  # of the free stock: values on both sides of $10k
        qty = max(1, int(free * share))
        args = {"item_id": item, "qty": qty, "from_site_id": sites[0], "to_site_id": others[0],
                "reason": "inference probe"}
        decision = runtime.approvals.actions.decide(user, "reallocate_inventory", args, model=grant, trace=trace,
                                                    audit=buffer)
        if decision.status == "precondition_failed":
            # Refused on stock the requester sees (free quantity, the source lines' work-order needs), never on the
            # hidden value: not a routing answer to compare.
            continue
        told = json.dumps([decision.effect.value, decision.rule_id, decision.reason.replace(str(qty), "<qty>")])
        seen.setdefault(told, []).append(qty)
    del cost  # the attacker's aim; the probe only checks that nothing shown depends on it
    varied = len(seen) > 1
    count("inference_routing", "leaked" if varied else "contained")
    return [f"{user.user_id} reallocate_inventory {item}: what the requester is told changes with the quantity "
            f"{sorted(seen.values())}"] if varied else []


def _everything(runtime: Any, user: Any, trace: Any, buffer: Any) -> dict[str, str]:
    return {spec.name: _seen(runtime, user, spec.name, {}, trace, buffer)
            for spec in runtime.catalog if spec.name != "search_documents"}


def _rankings(sandbox: Any, user: Any, trace: Any, count: Count) -> list[str]:
    """Non-interference: prices the user may not see at all are changed; no answer of theirs may change."""
    from guardrails.gate import field_scope

    runtime = sandbox.runtime
    sites = frozenset(runtime.policy.user_sites(user))
    masked, _aggregate_only = field_scope(runtime.policy, user, sites)
    hidden = [(t, c) for t, c, f in HIDDEN_PRICE_COLUMNS if f in masked]
    if not hidden:
        return []
    with runtime.audit.buffer() as buffer:
        before = _everything(runtime, user, trace, buffer)
    with runtime.data_engine.begin() as conn:  # a deterministic reshuffle of every hidden price
        for table, column in hidden:
            conn.execute(text(f"UPDATE {table} SET {column} = ({column} * 7 + 13) / 3"))
    try:
        with runtime.audit.buffer() as buffer:
            after = _everything(runtime, user, trace, buffer)
    finally:
        sandbox.restore()
    moved = sorted(tool for tool in before if before[tool] != after[tool])
    for tool in before:
        count("inference_ranking", "leaked" if tool in moved else "contained")
    return [f"{user.user_id} {tool}: the answer depends on prices the user may not see" for tool in moved]


def inference_probes(sandbox: Any, scopes: Any, user_id: str, grant: Any, count: Count) -> tuple[list[str], str]:
    """Run every probe for ``user_id``: the leaks found and the trace id the probes were audited under (each
    attempt is counted through ``count``)."""
    runtime = sandbox.runtime
    user = runtime.policy.user(user_id)
    held = runtime.policy.user_sites(user)
    foreign_sites = [s for s in sorted(runtime.policy.sites) if s not in held]
    canaries = scopes.for_user(user_id)
    trace = runtime.trace(user_id, f"th-infer-{user_id}")
    leaks: list[str] = []
    with runtime.audit.buffer() as buffer:
        if foreign_sites:
            leaks += _existence(runtime, user, foreign_sites[0], trace, buffer, count)
        leaks += _aggregates(runtime, user, lambda value, where: canaries.scan_result(value, where,
                                                                                      tool="open_po_lines"),
                             trace, buffer, count)
        leaks += _routing(runtime, user, grant, trace, buffer, count)
    leaks += _rankings(sandbox, user, trace, count)
    return leaks, trace.trace_id
