"""The typed values governed actions hand back: subject, precondition, changed records and results.

Re-exported by :mod:`tools.actions.spec`; kept apart so the ledger and the runner can use them
without importing :class:`~tools.actions.spec.ActionSpec`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from tools.scope import DataScope

__all__ = [
    "ActionResult",
    "ActionStatus",
    "ActionSubject",
    "ChangedRecord",
    "Check",
    "JsonScalar",
    "Precondition",
    "field_error",
]

JsonScalar = str | int | float | bool | None
"""A JSON scalar: what keys and column values of changed records hold (dates as ISO strings)."""

ActionStatus = Literal["executed", "precondition_failed", "compensated", "compensation_conflict"]


def field_error(field_name: str, message: str) -> PydanticCustomError:
    """An error for a model validator that names ``field_name`` (``ActionSpec.parse_args`` reports it)."""
    return PydanticCustomError("action_field", "{message}", {"field": field_name, "message": message})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates and datetimes as ISO strings)."""
        return self.model_dump(mode="json")


class ActionSubject(_Frozen):
    """What an action would change, for approval routing: site, value and the facts rules test.

    ``value_usd`` is computed from ``items.standard_cost`` whatever the caller's scope masks,
    because routing must not depend on what the requester may see; do not show it to a requester
    whose scope hides ``items.standard_cost``.
    """

    action: str
    site_id: str = Field(description="The site whose data changes (the SOURCE site of a reallocation).")
    to_site_id: str | None = Field(None, description="Destination site of a reallocation.")
    value_usd: float = Field(description="Quantity × items.standard_cost; 0 when no quantity is involved.")
    record_ids: list[str] = Field(description="Ids of the records the action will change or link.")
    summary: str = Field(description="One line for approvers: what will happen.")
    item_id: str | None = None
    qty: float | None = Field(None, description="The quantity behind value_usd.")
    supplier_id: str | None = None
    po_buyer_user_id: str | None = Field(None, description="Buyer owning the PO (PO actions).")
    pull_in_days: int | None = Field(
        None, description="Days a PO date change moves the expected receipt earlier (negative = later).")
    asset_criticality: Literal["A", "B", "C"] | None = Field(None, description="Criticality of the asset.")


class Precondition(_Frozen):
    """Whether the action can run on the current data, and a snapshot of the records it would change."""

    action: str
    ok: bool
    reason: str = Field(description="Why it can or cannot run, naming the records and values.")
    snapshot: dict[str, Any] = Field(description="Current state of the records it will change (JSON).")


class ChangedRecord(_Frozen):
    """One row an execution wrote: its key and the before/after values of the columns written.

    ``before`` is None for an inserted row; ``after`` is None for a deleted one (compensation of an
    insert). Updates carry only the written columns.
    """

    table: str
    key: dict[str, JsonScalar]
    record_id: str = Field(description="Citation id of the record (lot id for an inventory row, PO-1/2 ...).")
    before: dict[str, JsonScalar] | None
    after: dict[str, JsonScalar] | None
    masked_fields: list[str] = Field(default_factory=list,
                                     description="Sensitive columns left out for the caller's scope.")

    def masked(self, scope: DataScope) -> ChangedRecord:
        """This record without the sensitive columns ``scope`` may not see."""
        hidden = {c for image in (self.before, self.after) if image for c in image
                  if not scope.can_see(f"{self.table}.{c}")}
        if not hidden:
            return self

        def strip(image: dict[str, JsonScalar] | None) -> dict[str, JsonScalar] | None:
            return None if image is None else {k: v for k, v in image.items() if k not in hidden}

        return self.model_copy(update={"before": strip(self.before), "after": strip(self.after),
                                       "masked_fields": sorted(hidden | set(self.masked_fields))})

    def inverse(self) -> ChangedRecord:
        """The change that undoes this one."""
        return self.model_copy(update={"before": self.after, "after": self.before})


class ActionResult(_Frozen):
    """The outcome of an execution or a compensation."""

    action: str
    status: ActionStatus
    idempotency_key: str
    request_id: str
    replayed: bool = Field(False, description="True when the key had already run: the stored result, "
                                              "nothing changed by this call.")
    message: str
    reason: str | None = Field(None, description="What changed or conflicts, for a failed precondition "
                                                 "or a compensation conflict.")
    changed: list[ChangedRecord] = Field(default_factory=list)
    record_ids: list[str] = Field(default_factory=list, description="Ids of the records changed.")
    snapshot: dict[str, Any] = Field(default_factory=dict,
                                     description="Precondition snapshot taken inside the execution.")
    executed_at: datetime | None = None
    compensated_at: datetime | None = None

    def masked(self, scope: DataScope) -> ActionResult:
        """This result without the sensitive columns ``scope`` may not see."""
        return self.model_copy(update={"changed": [c.masked(scope) for c in self.changed]})

    def to_text(self) -> str:
        """Canonical JSON text (what the ledger stores)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Check:
    """An action's precondition as evaluated by its module: the public part plus what execution needs."""

    site_id: str
    """The subject's site (the ledger records it; replay and undo require it in scope)."""
    ok: bool
    reason: str
    snapshot: dict[str, Any] = field(default_factory=dict)
    plan: Any = None
    """Action-specific data the apply step uses (rows to change), computed by the same reads."""
