"""The plant vocabulary the rules model resolves names against, loaded once from the plant database.

Master data only (sites, lines, machines, items, suppliers, assets, codes) plus
the sets of existing document ids, so an id the user types can be checked
before a tool is asked. It holds no quantities: every figure in an answer comes
from a tool result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, select

from tools.plant.schema import table

__all__ = ["AssetEntry", "ItemEntry", "LineEntry", "MachineEntry", "PlantLexicon", "SiteEntry", "SupplierEntry"]


@dataclass(frozen=True)
class SiteEntry:
    """A plant site."""

    site_id: str
    name: str
    country: str


@dataclass(frozen=True)
class LineEntry:
    """A production line."""

    line_id: str
    site_id: str
    name: str
    """E.g. 'Packaging Line 1'."""
    line_type: str

    @property
    def code(self) -> str:
        """The short code after the site, e.g. 'PK1'."""
        return self.line_id.split("-", 1)[1] if "-" in self.line_id else self.line_id


@dataclass(frozen=True)
class MachineEntry:
    """A machine on a line."""

    machine_id: str
    line_id: str
    site_id: str
    name: str


@dataclass(frozen=True)
class ItemEntry:
    """An item of the item master."""

    item_id: str
    description: str
    item_type: str


@dataclass(frozen=True)
class SupplierEntry:
    """A supplier of the supplier master."""

    supplier_id: str
    name: str


@dataclass(frozen=True)
class AssetEntry:
    """A maintainable asset (usually a machine or one of its modules)."""

    asset_id: str
    site_id: str
    machine_id: str | None
    name: str


@dataclass(frozen=True)
class PlantLexicon:
    """Names and ids of the plant's master data, for resolving what a question refers to."""

    sites: tuple[SiteEntry, ...]
    lines: tuple[LineEntry, ...]
    machines: tuple[MachineEntry, ...]
    items: tuple[ItemEntry, ...]
    suppliers: tuple[SupplierEntry, ...]
    assets: tuple[AssetEntry, ...]
    defect_codes: tuple[str, ...]
    """Quality-event defect codes, e.g. 'SEAL-LEAK'."""
    scrap_reasons: tuple[str, ...]
    """Scrap reason codes, e.g. 'SEAL_FAIL'."""
    down_reasons: tuple[str, ...]
    """Machine-event reason codes, e.g. 'MECH_FAIL'."""
    parameters: tuple[str, ...]
    """Machine setting names, e.g. 'seal_temperature'."""
    po_ids: frozenset[str] = field(default_factory=frozenset)
    wo_ids: frozenset[str] = field(default_factory=frozenset)
    lot_ids: frozenset[str] = field(default_factory=frozenset)
    so_ids: frozenset[str] = field(default_factory=frozenset)
    qe_ids: frozenset[str] = field(default_factory=frozenset)
    customers: tuple[str, ...] = ()
    """Customer names of the sales orders (a customer is named by its name; there is no customer master)."""
    po_lines: frozenset[str] = field(default_factory=frozenset)
    """PO line ids as cited, e.g. 'PO-24017/2'."""
    wo_lines: dict[str, str] = field(default_factory=dict, hash=False)
    """Line of each work order (so 'status of WO-5351' can list that line's orders and pick it out)."""
    item_sites: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(item, site) pairs an item is planned or stocked at (its reorder points and inventory)."""
    today: date | None = None
    """The plant's 'today' from plant_meta (used only when a conversation carries no context line)."""

    @classmethod
    def from_engine(cls, engine: Engine) -> PlantLexicon:
        """Read the master data of the plant behind ``engine`` (one connection, a handful of queries)."""
        t = table
        with engine.connect() as conn:
            def column(name: str, col: str) -> list[str]:
                tab = t(name)
                return sorted({str(v) for v in conn.execute(select(tab.c[col]).distinct()).scalars() if v})

            sites = tuple(SiteEntry(r.site_id, r.name, r.country) for r in conn.execute(
                select(t("sites").c.site_id, t("sites").c.name, t("sites").c.country)
                .order_by(t("sites").c.site_id)))
            pl = t("production_lines")
            lines = tuple(LineEntry(r.line_id, r.site_id, r.name, r.line_type) for r in conn.execute(
                select(pl.c.line_id, pl.c.site_id, pl.c.name, pl.c.line_type).order_by(pl.c.line_id)))
            m = t("machines")
            machines = tuple(MachineEntry(r.machine_id, r.line_id, r.site_id, r.name) for r in conn.execute(
                select(m.c.machine_id, m.c.line_id, pl.c.site_id, m.c.name)
                .join(pl, pl.c.line_id == m.c.line_id).order_by(m.c.machine_id)))
            it = t("items")
            items = tuple(ItemEntry(r.item_id, r.description, r.item_type) for r in conn.execute(
                select(it.c.item_id, it.c.description, it.c.item_type).order_by(it.c.item_id)))
            s = t("suppliers")
            suppliers = tuple(SupplierEntry(r.supplier_id, r.name) for r in conn.execute(
                select(s.c.supplier_id, s.c.name).order_by(s.c.supplier_id)))
            a = t("assets")
            assets = tuple(AssetEntry(r.asset_id, r.site_id, r.machine_id, r.name) for r in conn.execute(
                select(a.c.asset_id, a.c.site_id, a.c.machine_id, a.c.name).order_by(a.c.asset_id)))
            pol = t("po_lines")
            po_lines = frozenset(f"{r.po_id}/{r.line_no}" for r in conn.execute(select(pol.c.po_id, pol.c.line_no)))
            wo = t("work_orders")
            wo_lines = {str(r.wo_id): str(r.line_id) for r in conn.execute(select(wo.c.wo_id, wo.c.line_id))}
            rp, inv = t("reorder_points"), t("inventory")
            item_sites = frozenset((str(r.item_id), str(r.site_id)) for q in (
                select(rp.c.item_id, rp.c.site_id), select(inv.c.item_id, inv.c.site_id).distinct())
                for r in conn.execute(q))
            meta = t("plant_meta")
            raw_today = conn.execute(select(meta.c.value).where(meta.c.key == "today")).scalar()
            try:
                today = date.fromisoformat(str(raw_today)) if raw_today else None
            except ValueError:
                today = None
            return cls(
                sites=sites, lines=lines, machines=machines, items=items, suppliers=suppliers, assets=assets,
                defect_codes=tuple(column("quality_events", "defect_code")),
                scrap_reasons=tuple(column("scrap_records", "reason_code")),
                down_reasons=tuple(column("machine_events", "reason_code")),
                parameters=tuple(column("machine_settings", "parameter")),
                po_ids=frozenset(column("purchase_orders", "po_id")),
                wo_ids=frozenset(wo_lines),
                lot_ids=frozenset(column("lots", "lot_id")),
                so_ids=frozenset(column("sales_orders", "so_id")),
                qe_ids=frozenset(column("quality_events", "qe_id")),
                customers=tuple(column("sales_orders", "customer")),
                po_lines=po_lines,
                wo_lines=wo_lines,
                item_sites=item_sites,
                today=today,
            )

    def site(self, site_id: str) -> SiteEntry | None:
        """The site ``site_id``, if it exists."""
        return next((s for s in self.sites if s.site_id == site_id), None)

    def line(self, line_id: str) -> LineEntry | None:
        """The line ``line_id``, if it exists."""
        return next((ln for ln in self.lines if ln.line_id == line_id), None)

    def item(self, item_id: str) -> ItemEntry | None:
        """The item ``item_id``, if it exists."""
        return next((i for i in self.items if i.item_id == item_id), None)

    def machine(self, machine_id: str) -> MachineEntry | None:
        """The machine ``machine_id``, if it exists."""
        return next((mc for mc in self.machines if mc.machine_id == machine_id), None)

    def asset(self, asset_id: str) -> AssetEntry | None:
        """The asset ``asset_id``, if it exists."""
        return next((a for a in self.assets if a.asset_id == asset_id), None)

    def supplier(self, supplier_id: str) -> SupplierEntry | None:
        """The supplier ``supplier_id``, if it exists."""
        return next((s for s in self.suppliers if s.supplier_id == supplier_id), None)
