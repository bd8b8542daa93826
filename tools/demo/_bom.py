"""Bills of material and the standard costs that roll up from them.

Built after the finished-goods schedule so the reallocation motor can be
placed in the products whose next work orders need it.
"""

from __future__ import annotations

import random

from tools.demo._master import money, pack_count
from tools.demo._model import Bom, Item, Plant

__all__ = ["build_bom", "classify_abc"]

_CONVERSION = {"consumer_packs": (0.12, 0.35), "service_kits": (1.5, 3.0), "assemblies": (4.0, 12.0)}


def _pick(rng: random.Random, pool: list[Item], k: int = 1) -> list[Item]:
    return rng.sample(pool, min(k, len(pool)))


def _packs(plant: Plant, rng: random.Random, item: Item, by_tag: dict[str, list[Item]]) -> list[Bom]:
    lines: list[Bom] = []
    if item.make_line == "P100-PK1":
        lines.append(Bom(item.item_id, plant.scen.film_item, round(rng.uniform(0.35, 0.6), 3)))
    elif rng.random() < 0.5:
        lines.append(Bom(item.item_id, _pick(rng, by_tag["blister"])[0].item_id, 1.0))
    else:
        lines.append(Bom(item.item_id, _pick(rng, by_tag["film"])[0].item_id, round(rng.uniform(0.25, 0.45), 3)))
        lines.append(Bom(item.item_id, _pick(rng, by_tag["blister"])[0].item_id, 1.0))
    case = _pick(rng, by_tag["case"])[0]
    per_case = pack_count(case.description) if "-ct" in case.description else rng.choice((12, 24, 48))
    lines.append(Bom(item.item_id, case.item_id, round(1 / per_case, 4)))
    lines.append(Bom(item.item_id, _pick(rng, by_tag["label"])[0].item_id, 1.0))
    pieces = pack_count(item.description)
    parts = by_tag["fastener"] + by_tag["hardware"]
    for n, name in enumerate(item.contents):
        part = _pick(rng, [p for p in parts if p.description.startswith(name + ",")])[0]
        # hardware comes with two screws (or nuts, washers) per piece
        per_piece = 2 if n > 0 and plant.items[lines[-1].component].tag == "hardware" else 1
        lines.append(Bom(item.item_id, part.item_id, float(pieces * per_piece)))
    return lines


def _kits(plant: Plant, rng: random.Random, item: Item, by_tag: dict[str, list[Item]],
          machined: list[Item]) -> list[Bom]:
    lines = [
        Bom(item.item_id, _pick(rng, by_tag["pouch"])[0].item_id, 1.0),
        Bom(item.item_id, _pick(rng, by_tag["label"])[0].item_id, 1.0),
        Bom(item.item_id, _pick(rng, by_tag["case"])[0].item_id, round(1 / 24, 4)),
    ]
    for part in _pick(rng, machined, rng.choice((1, 2))):
        lines.append(Bom(item.item_id, part.item_id, float(rng.randint(1, 4))))
    if len(lines) < 6:
        seal = _pick(rng, by_tag["seal"] + by_tag["bearing"])[0]
        lines.append(Bom(item.item_id, seal.item_id, float(rng.randint(1, 4))))
    return lines


def _assemblies(plant: Plant, rng: random.Random, item: Item, by_tag: dict[str, list[Item]],
                machined: list[Item], with_motor: bool) -> list[Bom]:
    lines = [Bom(item.item_id, part.item_id, float(rng.randint(1, 2)))
             for part in _pick(rng, machined, rng.choice((1, 2)))]
    if with_motor:
        lines.append(Bom(item.item_id, plant.scen.realloc_item, 1.0))
    elif rng.random() < 0.6:
        others = [m for m in by_tag["motor"] if m.item_id != plant.scen.realloc_item]
        lines.append(Bom(item.item_id, _pick(rng, others)[0].item_id, 1.0))
    optional = [("bearing", 0.5, (1, 2)), ("seal", 0.6, (1, 2)), ("electronics", 0.5, (1, 1)),
                ("fastener", 0.6, (4, 8)), ("consumable", 0.3, (0, 0))]
    for tag, chance, (low, high) in optional:
        if len(lines) >= 6 or rng.random() >= chance:
            continue
        part = _pick(rng, by_tag[tag])[0]
        qty = round(rng.uniform(0.01, 0.03), 3) if tag == "consumable" else float(rng.randint(low, high))
        lines.append(Bom(item.item_id, part.item_id, qty))
    if len(lines) < 2:
        lines.append(Bom(item.item_id, _pick(rng, by_tag["fastener"])[0].item_id, float(rng.randint(4, 8))))
    return lines


def _motor_products(plant: Plant, rng: random.Random) -> set[str]:
    """Finished goods on the two AS1 lines that use the reallocation motor.

    The first open order on each line must use it so the shortage and the
    surplus are both real; about two thirds of the other products use it too.
    """
    chosen: set[str] = set()
    for line_id in ("P100-AS1", "P200-AS1"):
        products = [i.item_id for i in plant.items.values() if i.make_line == line_id]
        upcoming = [w for w in sorted(plant.work_orders, key=lambda w: w.start)
                    if w.line_id == line_id and w.start >= plant.as_of]
        if upcoming:
            chosen.add(upcoming[0].item_id)
        chosen.update(p for p in products if rng.random() < 0.65)
    return chosen


def build_bom(plant: Plant) -> None:
    """Create every BOM and roll standard costs up to made items."""
    rng = plant.rng("bom")
    by_tag: dict[str, list[Item]] = {}
    for item in plant.items.values():
        if item.purchased and item.item_type in ("component", "raw"):
            by_tag.setdefault(item.tag, []).append(item)
    motor = next(m for m in by_tag["motor"] if "24 V 120 W" in m.description)
    plant.scen.realloc_item = motor.item_id
    with_motor = _motor_products(plant, rng)
    for item in plant.items.values():
        if item.make_line is None:
            continue
        site = plant.line(item.make_line).site_id
        machined = [i for i in plant.items.values()
                    if i.item_type == "component" and i.make_line and plant.line(i.make_line).site_id == site]
        if item.item_type == "component":
            bar = _pick(rng, by_tag[item.tag])[0]
            plant.bom.append(Bom(item.item_id, bar.item_id, round(rng.uniform(0.15, 1.2), 3)))
        elif item.tag == "consumer_packs":
            plant.bom.extend(_packs(plant, rng, item, by_tag))
        elif item.tag == "service_kits":
            plant.bom.extend(_kits(plant, rng, item, by_tag, machined))
        else:
            plant.bom.extend(_assemblies(plant, rng, item, by_tag, machined, item.item_id in with_motor))
    plant.index()
    # machined parts first: finished goods use them
    for item_type in ("component", "finished"):
        for item in plant.items.values():
            if item.make_line is None or item.item_type != item_type:
                continue
            material = sum(plant.items[b.component].standard_cost * b.qty_per for b in plant.components(item.item_id))
            low, high = _CONVERSION.get(item.tag, (1.5, 6.0))
            item.standard_cost = money(material + rng.uniform(low, high))


def classify_abc(plant: Plant) -> None:
    """A/B/C by usage value over the plan: top 20 % of items A, next 30 % B, the rest C."""
    value: dict[str, float] = dict.fromkeys(plant.items, 0.0)
    for wo in plant.work_orders:
        value[wo.item_id] += wo.qty_planned * plant.items[wo.item_id].standard_cost
        for bom in plant.components(wo.item_id):
            value[bom.component] += wo.qty_planned * bom.qty_per * plant.items[bom.component].standard_cost
    for lot in plant.lots:
        if plant.items[lot.item_id].item_type == "spare":
            value[lot.item_id] += lot.qty_received * plant.items[lot.item_id].standard_cost
    ranked = sorted(plant.items, key=lambda i: (-value[i], i))
    for n, item_id in enumerate(ranked):
        share = n / len(ranked)
        plant.items[item_id].abc_class = "A" if share < 0.2 else "B" if share < 0.5 else "C"
