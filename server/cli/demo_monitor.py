"""``jidoka demo``, monitoring part: the seed's four scenarios from detection to outcome, on a copy of the home.

(a) scrap spike → signal → hold proposal → quality approval → ERP stock to quality inspection → supplier review
(over the variance limit) → approved → a simulated next shift at the usual scrap rate → the signal resolved with its
outcome; (b) asset failure score → maintenance order → approval → spare reservation follow-up → the work orders the
order's window collides with; (c) a reallocation the MES line constraint refuses; (d) the executive's cross-system
signals beside the copilot's reconciliation answer. Everything goes through the real runtime (gate, approvals,
audit); the copy keeps ``$JIDOKA_HOME`` as it was, so the demo can be run again.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule
from sqlalchemy import select

from guardrails.approvals.models import DecisionKind
from guardrails.monitoring import Signal, may_see
from guardrails.monitoring.proposals import PersonGrant
from server.cli.common import literal
from server.runtime import Runtime, RuntimeFactory, build_copilot
from server.settings import Settings
from tools.demo.advance import advance_shift
from tools.plant.schema import table

__all__ = ["HEADINGS", "monitoring_walk"]

HEADINGS = ("(a) scrap spike: detection to outcome", "(b) asset at risk: maintenance order and schedule conflict",
            "(c) reallocation blocked by an MES line constraint", "(d) executive summary: ERP vs MES")
_OPEN_WO = ("planned", "released", "running", "held")


@contextmanager
def _home_copy(home: Path) -> Iterator[Path]:
    """A throw-away copy of ``home``'s plant and manifest (a fresh state database: its own audit chain)."""
    with tempfile.TemporaryDirectory(prefix="jidoka-demo-monitor-") as tmp:
        copy = Path(tmp)
        with closing(sqlite3.connect(home / "plant.db")) as src, closing(sqlite3.connect(copy / "plant.db")) as dst:
            src.backup(dst)
        shutil.copy(home / "plant_manifest.json", copy / "plant_manifest.json")
        yield copy


def _say(out: Console, text: str) -> None:
    out.print(literal(text), highlight=False)


def _signal(runtime: Runtime, detector: str, subject: str) -> Signal | None:
    monitor = runtime.monitor
    found = [s for s in (monitor.store.signals() if monitor else []) if s.detector == detector
             and s.record_ids and s.record_ids[0] == subject]
    return found[0] if found else None


def _proposal(signal: Signal, action: str) -> dict[str, Any]:
    return next((dict(p) for p in signal.proposals if p.get("action") == action), {})


def _approve(runtime: Runtime, out: Console, request_id: str, prefer: tuple[str, ...] = ()) -> str:
    """Approve ``request_id`` as an eligible user (a preferred one when eligible) and settle it; the message."""
    monitor = runtime.monitor
    if monitor is None:
        return "no monitor"
    request = monitor.approvals.get(request_id)
    eligible = [u for g in request.groups for u in g.eligible_user_ids]
    approver = next((u for u in prefer if u in eligible), eligible[0] if eligible else "")
    _say(out, f"  {request_id} {request.action} requested by {request.requester}, routed to "
              f"{'; '.join(g.describe() for g in request.groups)} (eligible: {', '.join(eligible)})")
    with runtime.audit.buffer() as audit:
        monitor.approvals.decide(request_id, approver, DecisionKind.APPROVE, "demo: approved", audit=audit)
    settled = monitor.settle(request_id)
    message = f"{settled.status} — {settled.reason}" if settled else "not settled"
    _say(out, f"  {approver} approves → {message}")
    return message


def _scrap(runtime: Runtime, out: Console, manifest: dict[str, Any]) -> str | None:
    spike = manifest["scenarios"]["scrap_spike"]
    signal = _signal(runtime, "scrap_spike", spike["lot_id"])
    if signal is None or runtime.monitor is None:
        _say(out, "  no scrap-spike signal on the suspect lot")
        return None
    _say(out, f"  signal {signal.signal_id} ({signal.status.value}, for {signal.role}): {signal.title}")
    _say(out, f"  evidence: {', '.join(signal.record_ids[:5])} …; scrap {signal.figures.get('scrap_rate')} vs "
              f"baseline {signal.figures.get('baseline_rate')}")
    hold = _proposal(signal, "place_quality_hold")
    if hold.get("request_id"):
        _approve(runtime, out, str(hold["request_id"]), ("quinn.quality",))
    inv, lots = table("inventory"), table("lots")
    with runtime.data_engine.connect() as conn:
        status = conn.execute(select(lots.c.status).where(lots.c.lot_id == spike["lot_id"])).scalar()
        rows = conn.execute(select(inv.c.location, inv.c.stock_status, inv.c.qty_on_hand)
                            .where(inv.c.lot_id == spike["lot_id"])).all()
    _say(out, f"  ERP/MES now: lot {spike['lot_id']} is {status}; stock "
              + ", ".join(f"{r.qty_on_hand:g} at {r.location} {r.stock_status}" for r in rows))
    signal = runtime.monitor.store.get(signal.signal_id)
    review = _proposal(signal, "open_supplier_review")
    limit = runtime.approvals.actions.router.triggers("open_supplier_review", {signal.site_id}).limit(
        "scrap_variance_limit", signal.site_id)
    excess = float(signal.figures.get("scrap_rate") or 0) - float(signal.figures.get("baseline_rate") or 0)
    _say(out, f"  scrap {excess:.1%} over baseline vs the supplier-review limit {limit or 0:.0%}: "
              f"open_supplier_review {review.get('effect', 'not proposed')} — {review.get('reason', '')}")
    if review.get("request_id"):
        _approve(runtime, out, str(review["request_id"]), ("bea.buyer", "ben.buyer"))
    return signal.signal_id


def _asset(runtime: Runtime, out: Console, manifest: dict[str, Any]) -> str | None:
    risk = manifest["scenarios"]["asset_risk"]
    signal = _signal(runtime, "asset_risk", risk["asset_id"])
    if signal is None or runtime.monitor is None:
        _say(out, "  no asset-risk signal on the scenario asset")
        return None
    _say(out, f"  signal {signal.signal_id} ({signal.status.value}, for {signal.role}): {signal.title}")
    order = _proposal(signal, "create_maintenance_order")
    if not order.get("request_id"):
        _say(out, f"  create_maintenance_order {order.get('effect')}: {order.get('reason')}")
        return signal.signal_id
    request = runtime.monitor.approvals.get(str(order["request_id"]))
    _approve(runtime, out, request.id, ("max.maint",))
    spare = _proposal(runtime.monitor.store.get(signal.signal_id), "reserve_spare_parts")
    _say(out, f"  follow-up reserve_spare_parts: {spare.get('effect', 'not proposed')} "
              f"({spare.get('rule_id', '')}) — {spare.get('reason', '')} {spare.get('status', '')}".rstrip())
    start_raw, end_raw = request.args.get("scheduled_start"), request.args.get("scheduled_end")
    start = datetime.fromisoformat(str(start_raw)) if start_raw else runtime.tools.as_of() + timedelta(hours=1)
    end = datetime.fromisoformat(str(end_raw)) if end_raw else start + timedelta(hours=6)
    wo = table("work_orders")
    with runtime.data_engine.connect() as conn:
        clashes = conn.execute(select(wo.c.wo_id, wo.c.status, wo.c.item_id, wo.c.planned_start, wo.c.planned_end)
                               .where(wo.c.line_id == risk["line_id"], wo.c.status.in_(_OPEN_WO),
                                      wo.c.planned_start < end, wo.c.planned_end > start)
                               .order_by(wo.c.planned_start)).all()
    window = "scheduled" if start_raw else "suggested start"
    _say(out, f"  schedule conflict: the order's {window} window {start:%Y-%m-%d %H:%M}–{end:%H:%M} on "
              f"{risk['line_id']} overlaps {len(clashes)} work order(s):")
    for c in clashes:
        mark = "  ← the scenario's work order" if c.wo_id == risk.get("work_order_id") else ""
        _say(out, f"    {c.wo_id} ({c.status}) {c.item_id} {c.planned_start:%m-%d %H:%M}–{c.planned_end:%m-%d %H:%M}"
                  f"{mark}")
    return signal.signal_id


def _realloc(runtime: Runtime, out: Console, manifest: dict[str, Any]) -> None:
    realloc = manifest["scenarios"]["reallocation"]
    item, short, surplus = realloc["item_id"], realloc["short_site"], realloc["surplus_site"]
    signal = _signal(runtime, "stock_below_zero", item)
    if signal is not None:
        own = _proposal(signal, "reallocate_inventory")
        _say(out, f"  signal {signal.signal_id}: {signal.title}")
        _say(out, f"  the monitor's own proposal (as {signal.role} at {short}): {own.get('effect')} — "
                  f"{own.get('reason')}")
    actions, user = runtime.approvals.actions, runtime.policy.user("pat.planner")
    _say(out, f"  ERP shows {realloc['free_qty']:g} {item} free at {surplus}; MES: {realloc['constrained_line_id']} "
              f"needs {realloc['line_need_qty']:g} of it within {realloc['horizon_days']} days")
    for qty, label in ((realloc["blocked_qty"], f"the {short} shortage"),
                       (realloc["allowed_qty"], f"what {surplus} can spare")):
        args = {"item_id": item, "qty": qty, "from_site_id": surplus, "to_site_id": short,
                "reason": f"cover the {short} shortage of {item}"}
        with runtime.audit.buffer() as audit:
            decision = actions.decide(user, "reallocate_inventory", args, model=PersonGrant(),
                                      trace=runtime.trace(user.user_id), audit=audit)
        _say(out, f"  pat.planner asks to move {qty:g} {item} {surplus}→{short} ({label}): "
                  f"{decision.effect.value} [{decision.rule_id}] — {decision.reason}")


def _executive(runtime: Runtime, out: Console) -> None:
    monitor = runtime.monitor
    if monitor is None:
        return
    answer = build_copilot(runtime).ask("eve.exec", "Give me the operational summary and any ERP/MES mismatches.")
    _say(out, "  copilot (eve.exec): " + " ".join(answer.answer.split())[:600])
    for user_id in ("eve.exec", "sol.supervisor"):
        user = monitor.policy.user(user_id)
        seen = [s for s in monitor.store.signals(active_only=True) if s.detector == "cross_system" and may_see(
            s, user, monitor.policy, monitor.rules, tuple(monitor.approvals.get(r) for r in s.requests))]
        _say(out, f"  `jidoka monitor signals --as {user_id}`: {len(seen)} cross-system signal(s)")
        for s in seen:
            _say(out, f"    {s.signal_id} {s.site_id} {s.status.value}: {s.title}")


def monitoring_walk(settings: Settings, out: Console) -> bool:
    """Run the four scenarios on a copy of ``settings.home`` and verify the copy's audit chain (True: intact)."""

    manifest = json.loads((settings.home / "plant_manifest.json").read_text())
    if not manifest.get("scenarios"):
        _say(out, "monitoring: this plant has no planted scenarios (built with --no-scenarios); skipped")
        return True
    factory = RuntimeFactory(settings)
    with _home_copy(settings.home) as copy:
        out.print(Rule("monitoring: the four scenarios, detection to outcome"))
        _say(out, f"on a copy of {settings.home} in {copy}: $JIDOKA_HOME is not changed (the demo stays repeatable)")
        runtime = factory.runtime(copy)
        try:
            summary = runtime.monitor.run() if runtime.monitor else None
            if summary is not None:
                _say(out, f"monitor run: {len(summary.opened)} signals opened, {len(summary.proposed)} requests made")
            out.print(Rule(HEADINGS[0]))
            scrap = _scrap(runtime, out, manifest)
            out.print(Rule(HEADINGS[1]))
            asset = _asset(runtime, out, manifest)
            out.print(Rule(HEADINGS[2]))  # before the simulated shift: the plant as its planners see it now
            _realloc(runtime, out, manifest)
        finally:
            runtime.close()
        out.print(Rule("(a) continued — NEXT SHIFT (simulated): scrap back to baseline"))
        spike = manifest["scenarios"]["scrap_spike"]
        runtime = factory.runtime(copy)
        try:
            shift = advance_shift(runtime.data_engine, line_id=spike["line_id"], avoid_lots=[spike["lot_id"]])
        finally:
            runtime.close()
        _say(out, f"  simulated shift on {shift.line_id} ({shift.wo_id}) {shift.started:%H:%M}–{shift.ended:%H:%M}: "
                  f"{shift.good:g} good, {shift.scrap:g} scrap ({shift.scrap_rate:.1%}, the line's usual rate), "
                  f"lots {', '.join(lot for lot, _ in shift.issued[:3])} (not {spike['lot_id']}); as-of → "
                  f"{shift.ended:%Y-%m-%d %H:%M}")
        runtime = factory.runtime(copy)  # a new runtime reads the new as-of time
        try:
            if runtime.monitor is not None:
                runtime.monitor.run()
                for signal_id in (scrap, asset):
                    if signal_id:
                        s = runtime.monitor.store.get(signal_id)
                        _say(out, f"  next monitor run: {s.signal_id} {s.detector} → {s.status.value}: "
                                  f"{s.closed_reason or s.outcome.get('note', '')}")
            out.print(Rule(HEADINGS[3]))
            _executive(runtime, out)
            report = runtime.audit.verify()
            status = "intact" if report.ok else f"broken at seq {report.first_bad_seq}"
            _say(out, f"audit chain of the monitoring copy: {status}, {report.checked} events checked")
        finally:
            runtime.close()
    return report.ok
