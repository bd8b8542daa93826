"""Master data: sites, lines, machines, items, suppliers, prices and sourcing."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

from tools.demo._model import Item, Line, Machine, Plant, Price, Supplier

__all__ = ["build_master", "money", "nice_ceil", "nice_round", "pack_count"]

_MXN_PER_USD = 17.2


def money(value: float) -> float:
    """A price rounded the way ERP systems show it (more decimals for cheap items)."""
    return round(value, 4) if value < 1 else round(value, 2)


def nice_round(value: float) -> float:
    """Round a quantity to 1, 5, 10, 50 or 100 depending on its size (never below 1)."""
    if value <= 10:
        return float(max(1, round(value)))
    step = 5 if value <= 100 else 10 if value <= 1000 else 50 if value <= 10000 else 100
    return float(max(step, round(value / step) * step))


def nice_ceil(value: float) -> float:
    """Like :func:`nice_round` but never below ``value`` (order quantities must cover a need)."""
    rounded = nice_round(value)
    if rounded >= value:
        return rounded
    step = 1 if value <= 10 else 5 if value <= 100 else 10 if value <= 1000 else 50 if value <= 10000 else 100
    return rounded + step


def _combos(families: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    out: list[tuple[dict[str, Any], str]] = []
    for family in families:
        for name, variants in family["items"].items():
            for variant in variants:
                out.append((family, f"{name}, {variant}" if variant else name))
    return out


def _cost(rng: random.Random, bounds: list[float]) -> float:
    return money(rng.uniform(float(bounds[0]), float(bounds[1])))


def _sites_lines(plant: Plant) -> None:
    vocab = plant.vocab.plant
    plant.sites = [dict(site) for site in vocab["sites"]]
    types: dict[str, Any] = vocab["machine_types"]
    for spec in vocab["lines"]:
        line = Line(spec["line_id"], spec["site_id"], spec["name"], spec["line_type"], float(spec["rate"]),
                    spec["products"])
        seen: dict[str, int] = {}
        for mtype in spec["machines"]:
            seen[mtype] = seen.get(mtype, 0) + 1
        used: dict[str, int] = {}
        for n, mtype in enumerate(spec["machines"], start=1):
            used[mtype] = used.get(mtype, 0) + 1
            model = types[mtype]["model"].split(" ")[0]
            name = f"{mtype} {model}" + (f" #{used[mtype]}" if seen[mtype] > 1 else "")
            line.machines.append(Machine(f"M-{line.line_id}-{n:02d}", line.line_id, name, mtype))
        plant.lines.append(line)


def _items(plant: Plant) -> None:
    rng = plant.rng("items")
    vocab = plant.vocab.items
    counts = vocab["counts"]
    finished = vocab["finished"]
    serial = {"FG": 1001, "CP": 2001, "RM": 3001, "SP": 4001}

    def add(prefix: str, description: str, item_type: str, uom: str, cost: float, tag: str,
            make_line: str | None = None) -> Item:
        item_id = f"{prefix}-{serial[prefix]}"
        serial[prefix] += 1
        plant.items[item_id] = Item(item_id, description, item_type, uom, cost, tag, make_line)
        return plant.items[item_id]

    names_by_family: dict[str, list[tuple[str, list[str]]]] = {}
    for family, spec in finished.items():
        pool: list[tuple[str, list[str]]]
        if family == "assemblies":
            pool = [(f"{n}, {v}", []) for n in spec["names"] for v in spec["variants"]]
            rng.shuffle(pool)
        elif family == "consumer_packs":
            # one product per name, each in one of its pack formats
            packs = sorted(spec["names"].items())
            rng.shuffle(packs)
            pool = [(f"{n}, {rng.choice(p['variants'])}", list(p["contents"])) for n, p in packs]
        else:
            names = list(spec["names"])
            rng.shuffle(names)
            pool = [(f"{n}, {rng.choice(spec['variants'])}", []) for n in names]
        names_by_family[family] = pool
    for line in plant.lines:
        if line.products == "machined":
            continue
        spec = finished[line.products]
        for _ in range(int(counts["finished_per_line"][line.line_id])):
            description, contents = names_by_family[line.products].pop(0)
            add("FG", description, "finished", spec["uom"], 0.0, line.products, line.line_id).contents = contents

    purchased = _combos(vocab["components_purchased"])
    machined = _combos(vocab["components_machined"])
    rng.shuffle(machined)
    for family, description in purchased:
        add("CP", description, "component", family["uom"], _cost(rng, family["cost"]), family["tag"])
    for line in plant.lines:
        if line.products != "machined":
            continue
        for _ in range(int(counts["machined_per_line"][line.line_id])):
            family, description = machined.pop(0)
            add("CP", description, "component", family["uom"], _cost(rng, family["cost"]), family["raw"],
                line.line_id)
    for family, description in _combos(vocab["raw"]):
        add("RM", description, "raw", family["uom"], _cost(rng, family["cost"]), family["tag"])
    for machine, spares in vocab["spare"].items():
        for name, variant, low, high in spares:
            add("SP", f"{name}, {variant}" if variant else name, "spare", "EA", _cost(rng, [low, high]), machine)
    for item in plant.items.values():
        if item.tag == "film_primary":
            plant.scen.film_item = item.item_id
            break


def _bank_account(rng: random.Random, country: str) -> str:
    def digits(n: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(n))

    if country == "US":
        return f"ABA {digits(9)} ACCT {digits(10)}"
    if country == "MX":
        return f"CLABE {digits(18)}"
    if country == "DE":
        raw = f"DE{rng.randint(10, 99)}{digits(18)}"
        return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))
    if country == "CA":
        return f"TRANSIT {digits(5)}-{digits(3)} ACCT {digits(7)}"
    bic = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(4)) + country + "SH"
    return f"SWIFT {bic} ACCT {digits(12)}"


def _suppliers(plant: Plant) -> None:
    rng = plant.rng("suppliers")
    templates: list[str] = plant.vocab.partners["supplier_notes"]
    for n, spec in enumerate(plant.vocab.partners["suppliers"], start=1):
        otr = round(rng.uniform(0.8, 0.99), 3)
        ppm = int(round(rng.uniform(150, 4200), -1))
        risk = "high" if otr < 0.85 or ppm > 3500 else "low" if otr > 0.93 and ppm < 1500 else "medium"
        picked = rng.sample(templates, 2 if rng.random() < 0.4 else 1)
        notes = " ".join(t.format(otr=round(otr * 100, 1)) for t in picked)
        plant.suppliers.append(Supplier(f"S-{n:03d}", spec["name"], spec["country"], otr, ppm, risk,
                                        _bank_account(rng, spec["country"]), spec["buyer"], notes,
                                        list(spec["supplies"])))


def _lead_time(rng: random.Random, supplier: Supplier, item: Item) -> int:
    low, high = {"US": (7, 28), "MX": (5, 18), "CA": (14, 30), "DE": (28, 42)}.get(supplier.country, (35, 56))
    extra = 7 if item.item_type == "spare" else 0
    return rng.randint(low, high) + extra


def _sourcing(plant: Plant) -> None:
    rng = plant.rng("sourcing")
    today = plant.today
    for item in plant.items.values():
        if not item.purchased:
            continue
        tag = "spare" if item.item_type == "spare" else item.tag
        candidates = [s for s in plant.suppliers if tag in s.supplies]
        domestic = [s for s in candidates if s.country != "MX"]
        mexican = [s for s in candidates if s.country == "MX"]
        if tag == "film_primary":
            approved = candidates[:2]
        elif domestic and mexican:
            approved = [rng.choice(domestic), rng.choice(mexican)]
        else:
            approved = rng.sample(candidates, min(len(candidates), rng.choice((1, 2))))
        if item.item_id == plant.scen.film_item:
            plant.scen.film_supplier = approved[0].supplier_id
        p100 = next((s for s in approved if s.country != "MX"), approved[0])
        p200 = next((s for s in approved if s.country == "MX"), approved[0])
        plant.sourcing[(item.item_id, "P100")] = p100.supplier_id
        plant.sourcing[(item.item_id, "P200")] = p200.supplier_id
        for supplier in approved:
            mxn = supplier.country == "MX"
            base = item.standard_cost * rng.uniform(0.92, 1.08) * (_MXN_PER_USD if mxn else 1.0)
            lead = _lead_time(rng, supplier, item)
            min_qty = nice_round(min(5000.0, max(1.0, 60.0 / max(item.standard_cost, 0.01))))
            start = today - timedelta(days=rng.randint(160, 330))
            currency = "MXN" if mxn else "USD"
            plant.prices.append(Price(supplier.supplier_id, item.item_id, start - timedelta(days=365),
                                      start - timedelta(days=1), money(base * rng.uniform(0.9, 0.98)),
                                      currency, lead, min_qty))
            plant.prices.append(Price(supplier.supplier_id, item.item_id, start, start + timedelta(days=364),
                                      money(base), currency, lead, min_qty))


def build_master(plant: Plant) -> None:
    """Create sites, lines, machines, items (costs of made items come later), suppliers and prices."""
    _sites_lines(plant)
    _items(plant)
    _suppliers(plant)
    _sourcing(plant)
    plant.index()


def pack_count(description: str) -> int:
    """Pieces in a consumer pack ('retail pack 12-ct' -> 12), 1 when not stated."""
    match = re.search(r"(\d+)-ct", description)
    return int(match.group(1)) if match else 1
