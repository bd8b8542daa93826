"""The catalog of ERP/MES tools: every read tool (and later, action) by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tools import executive, inventory, maintenance, procurement, production, quality, suppliers, triage
from tools.errors import UnknownTool
from tools.spec import ToolSpec

__all__ = ["Catalog", "default_catalog"]


class Catalog:
    """An immutable, name-indexed set of tool specs."""

    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        self._by_name: dict[str, ToolSpec] = {}
        for spec in specs:
            if spec.name in self._by_name:
                raise ValueError(f"duplicate tool name {spec.name!r}")
            self._by_name[spec.name] = spec

    def get(self, name: str) -> ToolSpec:
        """The tool called ``name``; :class:`UnknownTool` if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownTool(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def names(self) -> list[str]:
        """Tool names in catalog order."""
        return list(self._by_name)


def default_catalog() -> Catalog:
    """The read tools shipped with jidoka."""
    modules = (inventory, procurement, triage, suppliers, production, quality, maintenance, executive)
    return Catalog(spec for module in modules for spec in module.TOOLS)
