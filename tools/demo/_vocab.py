"""The generator's vocabulary: names, texts and codes read from ``tools/demo/data/*.yaml``.

Keeping words in data files lets the plant read realistically without code
changes; the engine only decides structure and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

__all__ = ["Vocab", "load_vocab"]

_FILES = ("plant", "items", "partners", "quality", "maintenance", "injections")


@dataclass(frozen=True)
class Vocab:
    """Parsed contents of the vocabulary files, one mapping per file."""

    plant: dict[str, Any]
    """Sites, lines, machine types, locations and MES stop reasons (plant.yaml)."""
    items: dict[str, Any]
    """Item families and descriptions (items.yaml)."""
    partners: dict[str, Any]
    """Suppliers, supplier note templates and customers (partners.yaml)."""
    quality: dict[str, Any]
    """Defect codes, quality event texts and scrap reasons (quality.yaml)."""
    maintenance: dict[str, Any]
    """Asset names, health signals and maintenance order texts (maintenance.yaml)."""
    injections: dict[str, Any]
    """Planted prompt-injection texts (injections.yaml)."""


def _load(name: str) -> dict[str, Any]:
    resource = resources.files("tools.demo").joinpath("data", f"{name}.yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(resource.read_text(encoding="utf-8"), Loader=loader)
    if not isinstance(data, dict):
        raise ValueError(f"tools/demo/data/{name}.yaml must hold a mapping")
    return data


def load_vocab() -> Vocab:
    """Read every vocabulary file shipped with the generator."""
    loaded = {name: _load(name) for name in _FILES}
    return Vocab(**loaded)
