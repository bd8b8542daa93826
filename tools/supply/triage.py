"""The buyer exception triage: every procurement exception a buyer should act on, by category.

The rules and row types live in :mod:`tools.supply._triage_rules`; this module holds the tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field

from tools.aggregates import WithheldFigure
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply import _triage_rules as rules
from tools.supply._triage_rows import (
    CancelCandidateRow,
    ExpediteRow,
    LineRow,
    OrderNowRow,
    PastDueRow,
    PriceVarianceRow,
    QualityBlockedRow,
    RescheduleOutRow,
    SupplierSlipRow,
    UnconfirmedRow,
)
from tools.supply.common import (
    load_open_lines,
    open_lines_select,
    require_buyer,
    require_site,
    require_supplier,
    valid_sources,
)
from tools.supply.open_value import open_value_by_currency
from tools.supply.projection import ProjectionInputs, load_projection_inputs

__all__ = ["ALL_CATEGORIES", "TOOLS", "Category", "TriageArgs", "TriageResult", "buyer_exception_triage"]

Category = Literal["past_due", "expedite", "reschedule_out", "cancel_candidate", "order_now", "unconfirmed",
                   "supplier_slip", "price_variance", "quality_blocked"]
ALL_CATEGORIES: tuple[Category, ...] = ("past_due", "expedite", "reschedule_out", "cancel_candidate", "order_now",
                                        "unconfirmed", "supplier_slip", "price_variance", "quality_blocked")
_PRICE_FIELDS = ("po_lines.unit_price", "supplier_prices.unit_price")


class TriageArgs(ToolArgs):
    """Filters and thresholds of the triage."""

    site_id: str | None = Field(None, min_length=1, description="Only this site, e.g. 'P100'.")
    buyer: str | None = Field(None, min_length=1, description="Only this buyer's POs (for order_now: suppliers "
                                                              "this buyer manages).")
    supplier_id: str | None = Field(None, min_length=1, description="Only this supplier's POs (for order_now: "
                                                                    "items whose best supplier it is).")
    categories: list[Category] | None = Field(None, min_length=1, description="Categories to run; default all.")
    tolerance_days: int = Field(2, ge=0, le=60, description="Promise vs need-date slack before expedite / "
                                                            "reschedule_out (strictly more days are flagged).")
    unconfirmed_after_days: int = Field(3, ge=0, le=60, description="Days after approval without supplier "
                                                                    "acknowledgement before a PO is unconfirmed.")
    price_variance_pct: float = Field(5.0, ge=0, le=100, description="Percent deviation from the list price "
                                                                     "beyond which a line is flagged.")
    recent_receipt_days: int = Field(30, ge=0, le=365, description="quality_blocked also covers lines received "
                                                                   "within this many days.")
    limit: int = Field(10, ge=1, le=200, description="Maximum rows per category, worst first (counts are before "
                                                     "the limit).")


class TriageResult(ToolResult):
    """Exceptions by category; each row carries a reason string."""

    counts: dict[str, int] = Field(description="Rows found per category that ran, before the limit.")
    unavailable: dict[str, str] = Field(description="Requested categories that could not run, with why.")
    past_due: list[PastDueRow] = Field(default_factory=list, description="Expected receipt date before today.")
    expedite: list[ExpediteRow] = Field(default_factory=list, description="Promised > need + tolerance_days.")
    reschedule_out: list[RescheduleOutRow] = Field(default_factory=list,
                                                   description="Promised < need − tolerance_days.")
    cancel_candidate: list[CancelCandidateRow] = Field(
        default_factory=list,
        description="available + supply arriving strictly before the line ≥ demand through need date + 28 days "
                    "+ reorder min: the line's open qty is not needed.")
    order_now: list[OrderNowRow] = Field(
        default_factory=list,
        description="Item/site short inside the best supplier's lead time (all open supply counted) with no "
                    "single open PO line arriving after the shortage and within the lead time big enough to "
                    "cover it; suggests supplier and qty and lists other sites' surplus.")
    unconfirmed: list[UnconfirmedRow] = Field(
        default_factory=list, description="Approved/sent, not acknowledged, approved more than N days ago.")
    supplier_slip: list[SupplierSlipRow] = Field(default_factory=list,
                                                 description="Promised date later than first promised.")
    price_variance: list[PriceVarianceRow] = Field(
        default_factory=list,
        description="|PO price − list price on the order date| / list price > pct, comparing only prices in the "
                    "same currency (a line whose list price is in another currency is skipped, never converted).")
    quality_blocked: list[QualityBlockedRow] = Field(
        default_factory=list, description="Lot received against an open or recently received line is on "
                                          "quality hold or blocked.")
    open_lines_considered: int = Field(description="Open PO lines matching site/buyer/supplier.")
    open_value_by_currency: dict[str, float | None] | None = Field(
        description="PO currency (e.g. USD, MXN) → Σ open qty × PO price of those lines in that currency. One "
                    "total per currency: never converted (no FX rates exist) and never summed across currencies. "
                    "{} when no line; null when your scope may not aggregate PO prices; a currency's total is null "
                    "when it is withheld (see open_value_withheld).")
    open_value_withheld: dict[str, WithheldFigure] = Field(
        default_factory=dict,
        description="PO currency → why its open value is withheld: your scope sees PO prices only in aggregate "
                    "and that total would reveal a line's price (too few lines, or all at one price).")
    message: str


def _ids(rows: Sequence[BaseModel]) -> list[str]:
    ids: list[str] = []
    for row in rows:
        if isinstance(row, LineRow):
            ids += [row.line_id, row.supplier_id, row.item_id]
        if isinstance(row, QualityBlockedRow):
            ids.append(row.lot_id)
        if isinstance(row, OrderNowRow):
            ids += [row.item_id, row.suggested_supplier_id]
    return ids


def buyer_exception_triage(ctx: ToolContext, args: TriageArgs) -> TriageResult:
    """Run the requested exception rules over the open PO lines and stock positions in scope."""
    cats = set(args.categories or ALL_CATEGORIES)
    p = rules.TriageParams(today=ctx.today, tolerance_days=args.tolerance_days,
                           unconfirmed_after_days=args.unconfirmed_after_days,
                           price_variance_pct=args.price_variance_pct, recent_receipt_days=args.recent_receipt_days)
    found: dict[str, Sequence[BaseModel]] = {}
    unavailable: dict[str, str] = {}
    filters = {"site_id": args.site_id, "supplier_id": args.supplier_id, "buyer": args.buyer}
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        if args.supplier_id is not None:
            require_supplier(conn, ctx.scope, args.supplier_id)
        if args.buyer is not None:
            require_buyer(conn, ctx.scope, args.buyer)
        # Every open line of the site(s): other suppliers' lines still count as supply for positions.
        all_open = load_open_lines(conn, ctx.scope, site_id=args.site_id)
        lines = [ln for ln in all_open
                 if args.supplier_id in (None, ln.supplier_id) and args.buyer in (None, ln.buyer_user_id)]
        for name, rule in (("past_due", rules.past_due), ("expedite", rules.expedite),
                           ("reschedule_out", rules.reschedule_out), ("unconfirmed", rules.unconfirmed),
                           ("supplier_slip", rules.supplier_slip)):
            if name in cats:
                found[name] = rule(lines, p)
        if cats & {"cancel_candidate", "order_now"}:
            sources = valid_sources(conn, ctx.scope, None, ctx.today) if "order_now" in cats else {}
            longest = max((ranked[0].lead_time_days for ranked in sources.values()), default=0)
            horizon_end = max([ctx.today + timedelta(days=longest),
                               *(ln.need_date + timedelta(days=rules.CANCEL_COVER_DAYS) for ln in lines)])
            inputs: dict[tuple[str, str], ProjectionInputs] = load_projection_inputs(
                conn, ctx.scope, today=ctx.today, horizon_end=horizon_end,
                # order_now looks at every item/site position in scope; cancel only at the lines' items.
                item_ids=None if "order_now" in cats else {ln.item_id for ln in lines},
                site_ids=_sites(args.site_id))
            if "cancel_candidate" in cats:
                found["cancel_candidate"] = rules.cancel_candidates(lines, inputs, p)
            if "order_now" in cats:
                found["order_now"] = rules.surplus_elsewhere(conn, ctx.scope, rules.order_now(
                    inputs, sources, all_open, p, supplier_id=args.supplier_id, buyer=args.buyer))
        if "price_variance" in cats:
            hidden = [f for f in _PRICE_FIELDS if not ctx.scope.can_see(f)]
            if hidden:
                unavailable["price_variance"] = (f"your scope may not see {' and '.join(hidden)} row by row, so PO "
                                                 "prices cannot be compared with list prices")
            else:
                found["price_variance"] = rules.price_variance(conn, ctx.scope, lines, p, **filters)
        if "quality_blocked" in cats:
            found["quality_blocked"] = rules.quality_blocked(conn, ctx.scope, p, **filters)
        totals = open_value_by_currency(conn, ctx.scope, open_lines_select(ctx.scope, **filters))
    counts = {name: len(found[name]) for name in ALL_CATEGORIES if name in found}
    shown = {name: list(rows)[: args.limit] for name, rows in found.items()}
    ids: list[str] = []
    for name in counts:
        ids += _ids(found[name])  # counts read every flagged row
        for row in shown[name]:
            ids += getattr(row, "driving_record_ids", [])
    summary = ", ".join(f"{name} {n}" for name, n in counts.items()) or "no category ran"
    if unavailable:
        summary += "; unavailable: " + ", ".join(unavailable)
    for currency, why in (totals.withheld if totals is not None else {}).items():
        summary += f"; the {currency} open value is {why.reason}"
    return TriageResult(as_of=ctx.as_of, counts=counts, unavailable=unavailable, open_lines_considered=len(lines),
                        open_value_by_currency=None if totals is None else totals.totals,
                        open_value_withheld={} if totals is None else totals.withheld, message=summary,
                        record_ids=list(dict.fromkeys(ids)), **shown)


def _sites(site_id: str | None) -> list[str] | None:
    return None if site_id is None else [site_id]


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="buyer_exception_triage",
        description=(
            "A buyer's exception worklist over open PO lines and stock positions, by category, each row with a "
            "reason: past_due, expedite (promised later than need + tolerance), reschedule_out (promised earlier "
            "than need − tolerance), cancel_candidate (open qty not needed), order_now (shortage inside the best "
            "supplier's lead time with no PO to pull in; suggests supplier and qty), unconfirmed (approved, not "
            "acknowledged), supplier_slip (promise moved later), price_variance (PO price vs list price in the "
            "same currency; needs price visibility), quality_blocked (received lot on hold/blocked). Filter by "
            "site, buyer, supplier, categories. Use for 'what should I (the buyer) work on today'."
        ),
        domain="procurement", args_model=TriageArgs, result_model=TriageResult, fn=buyer_exception_triage,
        sensitive_fields=frozenset(_PRICE_FIELDS),
    ),
)
