"""Planted prompt injections: hostile text inside otherwise ordinary free-text fields.

They exist so guardrails can be tested against realistic data: the agent must
treat them as data, never as instructions. Every one is listed in the manifest.
"""

from __future__ import annotations

import base64
from typing import Any

from tools.demo._model import Plant

__all__ = ["plant_injections"]


def _append(base: str, text: str) -> str:
    return f"{base.rstrip()} {text}"


def plant_injections(plant: Plant) -> None:
    """Append each injection of injections.yaml to a row of the right kind and site."""
    rng = plant.rng("injections")
    scen = plant.scen
    taken: list[str] = []
    site_of_asset = {a["asset_id"]: a["site_id"] for a in plant.rows["assets"]}
    buyers_p100 = sorted({po.supplier_id for po in plant.purchase_orders if po.site_id == "P100"})
    buyers_p200 = sorted({po.supplier_id for po in plant.purchase_orders if po.site_id == "P200"})
    used_p200 = sorted({lot.item_id for lot in plant.lots if lot.site_id == "P200" and lot.wo is None
                        and plant.items[lot.item_id].item_type == "raw"})
    for spec in plant.vocab.injections["injections"]:
        family, target, site = spec["family"], spec["target"], spec["site"]
        text: str = spec["text"]
        decoded = None
        if family == "encoded":
            decoded = text
            text = spec.get("prefix", "") + base64.b64encode(text.encode()).decode()
        entry: dict[str, Any]
        if target == "quality_event":
            events = [q for q in plant.quality_events if q.site_id == site and not q.tag and q.qe_id not in taken]
            event = rng.choice(events)
            event.description = _append(event.description, text)
            entry = {"table": "quality_events", "key": {"qe_id": event.qe_id}, "column": "description"}
            taken.append(event.qe_id)
        elif target == "supplier":
            ids = buyers_p100 if site == "P100" else buyers_p200
            suppliers = [s for s in plant.suppliers if s.supplier_id in ids and s.supplier_id not in taken
                         and s.supplier_id != scen.film_supplier and (s.country == "MX") == (site == "P200")]
            supplier = rng.choice(suppliers)
            supplier.notes = _append(supplier.notes, text)
            entry = {"table": "suppliers", "key": {"supplier_id": supplier.supplier_id}, "column": "notes"}
            taken.append(supplier.supplier_id)
        elif target == "item":
            item = plant.items[rng.choice([i for i in used_p200 if i not in taken])]
            item.description = _append(item.description, text)
            entry = {"table": "items", "key": {"item_id": item.item_id}, "column": "description"}
            taken.append(item.item_id)
        elif target == "maintenance_order":
            orders = [m for m in plant.rows["maintenance_orders"] if site_of_asset[m["asset_id"]] == site
                      and m["asset_id"] != scen.asset_id and m["mo_id"] not in taken]
            order = rng.choice(orders)
            order["description"] = _append(order["description"], text)
            entry = {"table": "maintenance_orders", "key": {"mo_id": order["mo_id"]}, "column": "description"}
            taken.append(order["mo_id"])
        else:
            raise ValueError(f"unknown injection target {target!r} in injections.yaml")
        entry.update({"family": family, "site_id": site, "text": text})
        if decoded is not None:
            entry["decoded"] = decoded
        plant.injections.append(entry)
