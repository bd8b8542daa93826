"""The in-memory plant the generator builds before anything is written.

Records reference each other as objects (a lot knows the work order that made
it, a PO line knows its lots), so ids such as lot numbers can be assigned at
the end in chronological order and every consistency rule can be checked on
the objects before rendering rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tools.demo._vocab import Vocab
from tools.demo.errors import PlantRecordIncomplete

__all__ = [
    "Bom",
    "DayOutput",
    "Issue",
    "Item",
    "Line",
    "Lot",
    "Machine",
    "POLine",
    "Placement",
    "Plant",
    "Price",
    "PurchaseOrder",
    "QualityEvent",
    "SalesOrder",
    "Scenarios",
    "Supplier",
    "WorkOrder",
]


@dataclass
class Item:
    """A material master record plus the generator's classification of it."""

    item_id: str
    description: str
    item_type: str
    uom: str
    standard_cost: float
    tag: str
    """Family tag: a BOM role (film, motor...), the product family, or a spare's machine type."""
    make_line: str | None = None
    """Line that produces the item (finished goods and machined components)."""
    abc_class: str = "C"
    contents: list[str] = field(default_factory=list)
    """Consumer packs: names of the purchased parts packed in them."""

    @property
    def purchased(self) -> bool:
        """True for items bought from suppliers (everything not made on a line)."""
        return self.make_line is None


@dataclass
class Bom:
    """One bill-of-material line."""

    parent: str
    component: str
    qty_per: float


@dataclass
class Machine:
    """A machine on a line; ``mtype`` keys the machine-type vocabulary."""

    machine_id: str
    line_id: str
    name: str
    mtype: str


@dataclass
class Line:
    """A production line."""

    line_id: str
    site_id: str
    name: str
    line_type: str
    rate: float
    products: str
    machines: list[Machine] = field(default_factory=list)


@dataclass
class Supplier:
    """A supplier master record."""

    supplier_id: str
    name: str
    country: str
    on_time_rate: float
    quality_ppm: int
    risk_rating: str
    bank_account: str
    buyer: str
    notes: str
    supplies: list[str]


@dataclass
class Price:
    """A supplier price valid for ``[valid_from, valid_to]``."""

    supplier_id: str
    item_id: str
    valid_from: date
    valid_to: date
    unit_price: float
    currency: str
    lead_time_days: int
    min_qty: float


@dataclass
class DayOutput:
    """One day of a work order's MES output: good quantity and scrap by reason."""

    at: datetime
    good: int
    scrap: list[tuple[str, int]]


@dataclass
class WorkOrder:
    """A production order with its execution history."""

    wo_id: str
    site_id: str
    line_id: str
    item_id: str
    qty_planned: float
    start: datetime
    end: datetime
    due: date
    status: str = "planned"
    so_id: str | None = None
    progress: float = 0.0
    """Share of the planned run time elapsed at the as-of time."""
    days: list[DayOutput] = field(default_factory=list)
    output_lot: Lot | None = None
    spike: bool = False
    """Part of the planted scrap spike (runs on the suspect film lot)."""

    @property
    def qty_completed(self) -> float:
        """Good output confirmed by the MES."""
        return float(sum(d.good for d in self.days))

    @property
    def qty_scrapped(self) -> float:
        """Scrap recorded against the order."""
        return float(sum(q for d in self.days for _, q in d.scrap))

    @property
    def is_open(self) -> bool:
        """Planned, released or running: still to deliver output."""
        return self.status in ("planned", "released", "running")


@dataclass
class Placement:
    """Where (part of) a lot sits: one inventory row."""

    location: str
    qty_on_hand: float
    stock_status: str
    qty_reserved: float = 0.0
    reserved_for: str | None = None


@dataclass
class Lot:
    """A purchased or manufactured lot and what happened to it."""

    item_id: str
    site_id: str
    received_at: datetime
    qty_received: float
    supplier_id: str | None = None
    wo: WorkOrder | None = None
    po_line: POLine | None = None
    status: str = "available"
    issued: float = 0.0
    shipped: float = 0.0
    lot_id: str = ""
    placements: list[Placement] = field(default_factory=list)

    @property
    def remaining(self) -> float:
        """Quantity still on hand."""
        return round(self.qty_received - self.issued - self.shipped, 3)


@dataclass
class Issue:
    """Material of one lot issued to one work order (wo_materials)."""

    wo: WorkOrder
    lot: Lot
    qty: float


@dataclass
class POLine:
    """A purchase order line; the PO itself is formed when lines are grouped."""

    site_id: str
    supplier_id: str
    item_id: str
    qty_ordered: float
    order_date: date
    need_date: date
    promised_date: date | None
    original_promised_date: date | None
    line_status: str = "open"
    lots: list[Lot] = field(default_factory=list)
    kind: str = "open"
    """history (received), open, draft, cancelled: decides how lines group into POs."""
    price_factor: float = 1.0
    """Multiplier on the valid supplier price (planted price variances)."""
    received_override: float | None = None
    """A posted receipt quantity that differs from the lots (planted reconciliation gap)."""
    po: PurchaseOrder | None = None
    line_no: int = 0
    unit_price: float = 0.0

    @property
    def qty_received(self) -> float:
        """Quantity received against the line."""
        if self.received_override is not None:
            return self.received_override
        return float(sum(lot.qty_received for lot in self.lots))

    @property
    def record_id(self) -> str:
        """The citation id, e.g. ``PO-24017/2``."""
        if self.po is None:
            raise PlantRecordIncomplete(f"the PO line of {self.qty_ordered:g} {self.item_id} from {self.supplier_id}",
                                        "its purchase order")
        return f"{self.po.po_id}/{self.line_no}"


@dataclass
class PurchaseOrder:
    """A purchase order header."""

    po_id: str
    supplier_id: str
    site_id: str
    buyer: str
    status: str
    order_date: date
    approved_at: datetime | None
    acknowledged_at: datetime | None
    currency: str
    lines: list[POLine] = field(default_factory=list)


@dataclass
class SalesOrder:
    """A customer order line."""

    so_id: str
    site_id: str
    customer: str
    item_id: str
    qty: float
    unit_price: float
    due_date: date
    status: str


@dataclass
class QualityEvent:
    """A quality notification."""

    site_id: str
    item_id: str
    defect_code: str
    severity: str
    qty_affected: float
    detected_at: datetime
    status: str
    description: str
    line_id: str | None = None
    wo: WorkOrder | None = None
    lot: Lot | None = None
    qe_id: str = ""
    tag: str = ""
    """Why it exists: '' (routine), 'scenario', 'hold', 'incoming'."""


@dataclass
class Scenarios:
    """The planted scenarios' choices and, once built, their records."""

    planted: bool = True
    """False builds a plant without the planted scenarios and buyer exceptions (a normal, healthy plant)."""
    film_item: str = ""
    film_supplier: str = ""
    spike_lot: Lot | None = None
    sealer_id: str = ""
    realloc_item: str = ""
    realloc_short_qty: float = 0.0
    realloc_lot: Lot | None = None
    """P100's planted motor delivery (sized so P100 holds P100-AS1's need plus the margin)."""
    realloc_margin: float = 0.0
    """P100's free stock of the motor beyond what P100-AS1's orders need within the horizon."""
    asset_line: str = "P100-MC1"
    asset_machine: str = ""
    asset_id: str = ""
    asset_wo: WorkOrder | None = None
    spare_item: str = ""
    failure_probability: float = 0.0
    hold_lot: Lot | None = None
    hold_so: str = ""
    wo_gap: WorkOrder | None = None
    po_gap: POLine | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    exceptions: list[tuple[str, str, Any]] = field(default_factory=list)
    """Exceptions planted beside the scenarios: (kind, site, work order / PO line / item / {record_ids, item_ids})."""


@dataclass
class Plant:
    """Everything generated so far, plus the generation parameters."""

    seed: int
    today: date
    as_of: datetime
    vocab: Vocab
    sites: list[dict[str, Any]] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    items: dict[str, Item] = field(default_factory=dict)
    bom: list[Bom] = field(default_factory=list)
    suppliers: list[Supplier] = field(default_factory=list)
    prices: list[Price] = field(default_factory=list)
    price_index: dict[tuple[str, str], list[Price]] = field(default_factory=dict)
    """(supplier, item) -> price windows."""
    bom_by_parent: dict[str, list[Bom]] = field(default_factory=dict)
    sourcing: dict[tuple[str, str], str] = field(default_factory=dict)
    """(item, site) -> supplier the site buys the item from."""
    weekly_demand: dict[tuple[str, str], dict[date, float]] = field(default_factory=dict)
    """(item, site) -> week start -> forecast quantity (finished goods, whole planning span)."""
    opening_stock: dict[tuple[str, str], float] = field(default_factory=dict)
    """(item, site) -> finished stock before the first planned week (shipped first, never a lot)."""
    work_orders: list[WorkOrder] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    po_lines: list[POLine] = field(default_factory=list)
    purchase_orders: list[PurchaseOrder] = field(default_factory=list)
    sales_orders: list[SalesOrder] = field(default_factory=list)
    quality_events: list[QualityEvent] = field(default_factory=list)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Rows of simple tables generated directly (events, settings, assets...)."""
    scen: Scenarios = field(default_factory=Scenarios)
    injections: list[dict[str, Any]] = field(default_factory=list)

    def rng(self, stream: str) -> random.Random:
        """An independent, seeded random stream for one generation step."""
        return random.Random(f"jidoka-demo:{self.seed}:{stream}")

    def line(self, line_id: str) -> Line:
        """The line called ``line_id``."""
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise KeyError(line_id)

    def components(self, parent: str) -> list[Bom]:
        """BOM lines of ``parent`` in BOM order."""
        return self.bom_by_parent.get(parent, [])

    def index(self) -> None:
        """Rebuild the lookup indexes after the BOM or the prices change."""
        self.bom_by_parent = {}
        for bom in self.bom:
            self.bom_by_parent.setdefault(bom.parent, []).append(bom)
        self.price_index = {}
        for price in self.prices:
            self.price_index.setdefault((price.supplier_id, price.item_id), []).append(price)

    def price_at(self, supplier_id: str, item_id: str, day: date) -> Price:
        """The supplier price valid on ``day`` (the closest window when none covers it)."""
        windows = self.price_index[(supplier_id, item_id)]
        for price in windows:
            if price.valid_from <= day <= price.valid_to:
                return price
        return min(windows, key=lambda p: abs((p.valid_from - day).days))
