"""The deterministic demo plant: two sites of ERP and MES data with planted scenarios.

``build_plant`` fills a database from a seed and a 'today'; the manifest it
writes lists the planted scenarios and prompt injections so tests, evals and
demos can find them without hard-coding ids.
"""

from tools.demo.errors import (
    ManifestInvalid,
    ManifestMissing,
    PlantAlreadyExists,
    PlantGenerationError,
    PlantRecordIncomplete,
)
from tools.demo.generator import GENERATOR_VERSION, PlantSummary, build_plant
from tools.demo.hashing import plant_content_hash
from tools.demo.manifest import MANIFEST_NAME, read_manifest

__all__ = [
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "ManifestInvalid",
    "ManifestMissing",
    "PlantAlreadyExists",
    "PlantGenerationError",
    "PlantRecordIncomplete",
    "PlantSummary",
    "build_plant",
    "plant_content_hash",
    "read_manifest",
]
