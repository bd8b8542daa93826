"""The rules model's derived slots (agent/rules/slots.py) and the customer names of the sales orders as entities."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from agent.rules import PlantLexicon
from agent.rules.entities import Entities, EntityResolver
from agent.rules.intents import IntentCatalogue
from agent.rules.periods import find_period
from agent.rules.slots import derived_slot, due_days, past_days, transfer_direction, weeks
from agent.rules.vocab import Vocabulary

TODAY = date(2026, 3, 2)  # a Monday
NUMBERS = Vocabulary.load().numbers


@pytest.fixture(scope="module")
def resolver(demo_plant: Engine) -> EntityResolver:
    catalogue = IntentCatalogue()
    return EntityResolver(PlantLexicon.from_engine(demo_plant), Vocabulary.load(), catalogue.stems())


@pytest.mark.parametrize(("text", "due", "back", "n_weeks"), [
    ("this week", 7, 1, 1),
    ("today", 0, 1, 1),
    ("tomorrow", 1, None, 1),
    ("in the next 10 days", 10, 1, 2),
    ("over the next 8 weeks", 56, 1, 8),
    ("this month", 30, 2, 5),
    ("next week", 13, None, 2),
    ("in the last 30 days", None, 30, None),
    ("last week", None, 8, None),
])
def test_windows_from_periods(text: str, due: int | None, back: int | None, n_weeks: int | None) -> None:
    period, _ = find_period(text, TODAY, NUMBERS)
    assert (due_days(period, TODAY), past_days(period, TODAY), weeks(period, TODAY)) == (due, back, n_weeks)


def test_transfer_direction_reads_the_preposition_before_the_site_then_the_verb() -> None:
    assert transfer_direction(("what", "did", "we", "send", "to", "the", "entsite")) == "in"
    assert transfer_direction(("transfer", "from", "entsite")) == "out"
    assert transfer_direction(("what", "did", "entsite", "receive")) == "in"
    assert transfer_direction(("what", "did", "entsite", "sent")) == "out"
    assert transfer_direction(("transfer", "this", "month")) is None


def test_a_site_outside_a_one_site_user_is_seen_from_their_own_site() -> None:
    entities = Entities(ids={"site": ("P200",)}, stems=("what", "did", "we", "ship", "to", "entsite"))
    assert derived_slot("@transfer_site", entities, TODAY, frozenset({"P100"})) == "P100"
    assert derived_slot("@direction", entities, TODAY, frozenset({"P100"})) == "out"
    assert derived_slot("@transfer_site", entities, TODAY, None) == "P200"
    assert derived_slot("@direction", entities, TODAY, None) == "in"


def test_yes_no_flags_are_booleans_and_list_filters_skip_a_named_order() -> None:
    flagged = Entities(flags={"open_only": "true", "mo_type": "preventive"})
    assert derived_slot("@open_only", flagged, TODAY, None) is True
    assert derived_slot("@mo_type", flagged, TODAY, None) == "preventive"
    assert derived_slot("@late_only", flagged, TODAY, None) is None
    one = Entities(ids={"so": ("SO-30166",)}, flags={"open_only": "true", "so_status": "shipped"})
    assert derived_slot("@open_only", one, TODAY, None) is None and derived_slot("@so_status", one, TODAY, None) is None


def test_customers_resolve_by_name_and_win_over_a_supplier_sharing_a_word(resolver: EntityResolver) -> None:
    full = resolver.extract("open orders for Northern Fluid Power", TODAY, None)
    assert full.ids.get("customer") == ("Northern Fluid Power",) and "supplier" not in full.ids
    assert "entcustomer" in full.stems
    supplier = resolver.extract("what is open with Northern Pallet?", TODAY, None)
    assert supplier.ids.get("supplier") == ("S-030",) and "customer" not in supplier.ids
    # 'Keystone' names a supplier and a customer alike: both are kept, the words masked once as a supplier.
    both = resolver.extract("sales orders for Keystone", TODAY, None)
    assert both.ids.get("customer") == ("Keystone HVAC Wholesale",) and both.ids.get("supplier") == ("S-013",)
    assert "entsupplier" in both.stems and "entcustomer" not in both.stems


def test_sales_order_ids_in_words(resolver: EntityResolver) -> None:
    assert resolver.extract("status of sales order 30166", TODAY, None).ids.get("so") == ("SO-30166",)
    assert resolver.extract("is SO 30112 late", TODAY, None).ids.get("so") == ("SO-30112",)
