"""The catalog of ERP/MES tools: every read tool (and later, action) by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from tools import documents
from tools.errors import UnknownTool
from tools.ops import executive, lot_status, maintenance, maintenance_orders, production, quality, spares
from tools.spec import ToolSpec
from tools.supply import demand, inventory, procurement, sales, suppliers, transfers, triage

__all__ = ["Catalog", "NamedCatalog", "default_catalog"]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=_Named)


class NamedCatalog(Generic[S]):
    """An immutable, name-indexed set of specs (tools or actions)."""

    def __init__(self, specs: Iterable[S]) -> None:
        self._by_name: dict[str, S] = {}
        for spec in specs:
            if spec.name in self._by_name:
                raise ValueError(f"duplicate name {spec.name!r}")
            self._by_name[spec.name] = spec

    def get(self, name: str) -> S:
        """The tool called ``name``; :class:`UnknownTool` if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownTool(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[S]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def names(self) -> list[str]:
        """Tool names in catalog order."""
        return list(self._by_name)


class Catalog(NamedCatalog[ToolSpec]):
    """The read tools by name."""


def default_catalog() -> Catalog:
    """The read tools shipped with jidoka."""
    modules = (inventory, lot_status, transfers, procurement, triage, suppliers, sales, demand, production, quality,
               maintenance, maintenance_orders, spares, executive, documents)
    return Catalog(spec for module in modules for spec in module.TOOLS)
