"""The catalog of governed actions: every :class:`ActionSpec` by name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tools.actions.maintenance import CREATE_MAINTENANCE_ORDER, RESERVE_SPARE_PARTS
from tools.actions.purchasing import OPEN_SUPPLIER_REVIEW, REQUEST_PO_DATE_CHANGE, SWITCH_SUPPLIER
from tools.actions.quality_hold import PLACE_QUALITY_HOLD, RELEASE_QUALITY_HOLD
from tools.actions.reallocation import REALLOCATE_INVENTORY
from tools.actions.spec import ActionSpec
from tools.errors import UnknownTool

__all__ = ["ACTIONS", "ActionCatalog", "action_catalog"]

ACTIONS: tuple[ActionSpec, ...] = (
    PLACE_QUALITY_HOLD,
    RELEASE_QUALITY_HOLD,
    REALLOCATE_INVENTORY,
    REQUEST_PO_DATE_CHANGE,
    SWITCH_SUPPLIER,
    OPEN_SUPPLIER_REVIEW,
    CREATE_MAINTENANCE_ORDER,
    RESERVE_SPARE_PARTS,
)
"""Every governed action shipped with jidoka."""


class ActionCatalog:
    """An immutable, name-indexed set of action specs."""

    def __init__(self, specs: Iterable[ActionSpec]) -> None:
        self._by_name: dict[str, ActionSpec] = {}
        for spec in specs:
            if spec.name in self._by_name:
                raise ValueError(f"duplicate action name {spec.name!r}")
            self._by_name[spec.name] = spec

    def get(self, name: str) -> ActionSpec:
        """The action called ``name``; :class:`UnknownTool` if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownTool(name) from None

    def for_key(self, idempotency_key: str) -> ActionSpec:
        """The action an idempotency key (``"<action>:<request id>"``) belongs to."""
        return self.get(idempotency_key.split(":", 1)[0])

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def names(self) -> list[str]:
        """Action names in catalog order."""
        return list(self._by_name)


def action_catalog() -> ActionCatalog:
    """The governed actions shipped with jidoka."""
    return ActionCatalog(ACTIONS)
