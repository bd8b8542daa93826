"""Spare-parts read tool: the spares each asset needs and whether stock at the asset's site covers them."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from tools.ops.common import available_stock, latest_asset_health, lines_in_scope, require_ids
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec

__all__ = [
    "TOOLS",
    "SparePartRow",
    "SparePartsArgs",
    "SparePartsResult",
    "SparePartsSummary",
    "spare_parts",
]

_COST = "items.standard_cost"


class SparePartsArgs(ToolArgs):
    """Filters for :func:`spare_parts`; all optional and combined with AND."""

    asset_id: str | None = Field(None, min_length=1, description="One asset, e.g. AS-012.")
    site_id: str | None = Field(None, min_length=1, description="Site, e.g. P100.")
    line_id: str | None = Field(None, min_length=1,
                                description="Only assets on machines of this line, e.g. P100-MC1.")
    item_id: str | None = Field(None, min_length=1,
                                description="Only this spare part item (the assets that need it), e.g. SP-4036.")
    short_only: bool = Field(False, description="Only parts whose available stock is below the required qty.")
    limit: int = Field(20, ge=1, le=200, description="Maximum rows returned (the summary counts all matches).")


class SparePartRow(BaseModel):
    """One spare part an asset needs, against the stock at the asset's site."""

    asset_id: str
    asset_name: str
    site_id: str
    item_id: str
    description: str = Field(description="The spare part item's description.")
    qty_required: float = Field(description="Quantity a repair of the asset needs.")
    available: float = Field(description="Unrestricted on hand − reserved of the item at the asset's site.")
    reserved_for_asset: float = Field(description="Quantity already reserved for this asset (spare reservations); "
                                                  "it is part of the reserved stock, not of `available`.")
    short: bool = Field(description="True when available + reserved_for_asset < qty_required.")
    failure_probability: float | None = Field(description="The asset's latest predicted failure probability "
                                                          "(0-1); null when it has never been scored.")
    standard_cost: float | None = Field(None, description="Standard cost per unit of the item; null when your "
                                                          "role may not see costs.")


class SparePartsSummary(BaseModel):
    """Counts over every matching row (not only the rows returned)."""

    assets: int = Field(description="Distinct assets.")
    parts: int = Field(description="Asset spare-part rows.")
    short: int = Field(description="Rows whose stock is short.")


class SparePartsResult(ToolResult):
    """Spare parts per asset, riskiest assets first, led by their summary."""

    summary: SparePartsSummary
    rows: list[SparePartRow]
    more: int = Field(description="Matching rows not returned (beyond the limit).")


def spare_parts(ctx: ToolContext, args: SparePartsArgs) -> SparePartsResult:
    """Spare parts of assets in scope with available stock, reservations and a short flag."""
    sp, assets, items, machines = table("spare_parts"), table("assets"), table("items"), table("machines")
    reservations = table("spare_reservations")
    show_cost = ctx.scope.can_see(_COST)
    with ctx.engine.connect() as conn:
        if args.site_id or args.line_id:
            lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        if args.asset_id:
            require_ids(conn, "asset", assets.c.asset_id, [args.asset_id], ctx.scope.site_clause(assets.c.site_id))
        if args.item_id:
            # The item master is global: an item is found here when an asset in scope lists it as a spare.
            require_ids(conn, "spare part", sp.c.item_id, [args.item_id], sp.c.asset_id == assets.c.asset_id,
                        ctx.scope.site_clause(assets.c.site_id))
        stmt = (
            select(sp.c.asset_id, assets.c.name.label("asset_name"), assets.c.site_id, sp.c.item_id,
                   items.c.description, sp.c.qty_required)
            .select_from(sp.join(assets, assets.c.asset_id == sp.c.asset_id)
                         .join(items, items.c.item_id == sp.c.item_id)
                         .outerjoin(machines, machines.c.machine_id == assets.c.machine_id))
            .where(ctx.scope.site_clause(assets.c.site_id))
        )
        if show_cost:
            stmt = stmt.add_columns(items.c.standard_cost)
        for column, value in ((assets.c.asset_id, args.asset_id), (assets.c.site_id, args.site_id),
                              (machines.c.line_id, args.line_id), (sp.c.item_id, args.item_id)):
            if value is not None:
                stmt = stmt.where(column == value)
        found = conn.execute(stmt).all()
        asset_ids = sorted({r.asset_id for r in found})
        risk = {h.asset_id: h.failure_probability
                for h in latest_asset_health(conn, ctx.scope, asset_ids=asset_ids)}
        stock = available_stock(conn, ctx.scope, {(r.site_id, r.item_id) for r in found})
        reserved = {(r.asset_id, r.item_id): float(r.qty or 0.0) for r in conn.execute(
            select(reservations.c.asset_id, reservations.c.item_id, func.sum(reservations.c.qty).label("qty"))
            .where(ctx.scope.site_clause(reservations.c.site_id), reservations.c.asset_id.in_(asset_ids))
            .group_by(reservations.c.asset_id, reservations.c.item_id))}
    rows = []
    for r in found:
        available = stock[(r.site_id, r.item_id)]
        own = reserved.get((r.asset_id, r.item_id), 0.0)
        rows.append(SparePartRow(
            asset_id=r.asset_id, asset_name=r.asset_name, site_id=r.site_id, item_id=r.item_id,
            description=r.description, qty_required=float(r.qty_required), available=round(available, 3),
            reserved_for_asset=round(own, 3),
            # Stock already set aside for this asset covers its need: it is not free, but it is not missing.
            short=available + own < float(r.qty_required), failure_probability=risk.get(r.asset_id),
            standard_cost=float(r.standard_cost) if show_cost else None))
    if args.short_only:
        rows = [r for r in rows if r.short]
    # Riskiest assets first (never-scored assets last), then by asset and part.
    rows.sort(key=lambda r: (r.failure_probability is None, -(r.failure_probability or 0.0), r.asset_id, r.item_id))
    shown = rows[: args.limit]
    # The summary reads every matching row, so all of them are cited.
    ids = [*(r.asset_id for r in rows), *(r.item_id for r in rows)]
    return SparePartsResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(ids)),
        summary=SparePartsSummary(assets=len({r.asset_id for r in rows}), parts=len(rows),
                                  short=sum(r.short for r in rows)),
        rows=shown, more=len(rows) - len(shown))


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="spare_parts",
        description=(
            "The spare parts the plant's assets need and whether stock covers them: per asset and part the "
            "required qty, the available unrestricted stock at the asset's site (on hand − reserved), the qty "
            "already reserved for that asset, a short flag (available + reserved for the asset < required) and "
            "the asset's latest failure probability; riskiest assets first, led by a summary (assets, parts, "
            "short) and how many more rows there are. Filter by asset, site, line, spare item or short_only. The "
            "item's standard cost only when your role may see it. Use for 'do we have the spare parts for asset "
            "AS-012', 'which spares are short', 'which assets need spare SP-4036'. For the assets likely to fail "
            "use assets_at_risk."),
        domain="maintenance", args_model=SparePartsArgs, result_model=SparePartsResult, fn=spare_parts,
        sensitive_fields=frozenset({_COST}),
    ),
)
