"""The catalog of governed actions: every :class:`ActionSpec` by name."""

from __future__ import annotations

from tools.actions.maintenance import CREATE_MAINTENANCE_ORDER, RESERVE_SPARE_PARTS
from tools.actions.purchasing import OPEN_SUPPLIER_REVIEW, REQUEST_PO_DATE_CHANGE, SWITCH_SUPPLIER
from tools.actions.quality_hold import PLACE_QUALITY_HOLD, RELEASE_QUALITY_HOLD
from tools.actions.reallocation import REALLOCATE_INVENTORY
from tools.actions.spec import ActionSpec
from tools.catalog import NamedCatalog

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


class ActionCatalog(NamedCatalog[ActionSpec]):
    """An immutable, name-indexed set of action specs."""

    def for_key(self, idempotency_key: str) -> ActionSpec:
        """The action an idempotency key (``"<action>:<request id>"``) belongs to."""
        return self.get(idempotency_key.split(":", 1)[0])


def action_catalog() -> ActionCatalog:
    """The governed actions shipped with jidoka."""
    return ActionCatalog(ACTIONS)
