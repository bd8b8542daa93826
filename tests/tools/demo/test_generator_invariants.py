"""The generator's internal invariants fail as typed errors naming what is missing, never as bare asserts."""

from __future__ import annotations

import pytest

from tests.factories import AS_OF, DEMO_SEED, TODAY
from tools.demo import PlantGenerationError, PlantRecordIncomplete
from tools.demo._model import Plant, POLine
from tools.demo._scenarios import scenario_manifest
from tools.demo._vocab import load_vocab


def test_a_po_line_not_yet_grouped_into_a_po_has_no_record_id() -> None:
    line = POLine("P100", "S-001", "RM-3001", 40.0, TODAY, TODAY, None, None)
    with pytest.raises(PlantRecordIncomplete, match="PO line of 40 RM-3001 from S-001 was read before it had its "
                                                    "purchase order"):
        _ = line.record_id


def test_the_manifest_of_a_plant_without_its_scenarios_names_the_missing_ones() -> None:
    plant = Plant(seed=DEMO_SEED, today=TODAY, as_of=AS_OF, vocab=load_vocab())
    with pytest.raises(PlantGenerationError) as caught:
        scenario_manifest(plant)
    assert caught.value.seed == DEMO_SEED
    assert caught.value.problems == ["scenario not planted: the scrap-spike lot", "scenario not planted: the held lot",
                                     "scenario not planted: the short work order and its lot",
                                     "scenario not planted: the short PO line"]
