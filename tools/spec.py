"""What a tool is: its metadata, its typed arguments and result, and how it is invoked.

Tools never check permissions. The gate (``guardrails``) wraps every call and
hands the tool a :class:`tools.scope.DataScope` inside the :class:`ToolContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from tools.errors import ArgumentError, RecordNotFound, ToolError
from tools.scope import DataScope

if TYPE_CHECKING:
    from tools.document_index import DocumentIndex

__all__ = [
    "RISK_CLASSES",
    "Domain",
    "NotFound",
    "RiskClass",
    "ServiceUnavailable",
    "ToolArgs",
    "ToolContext",
    "ToolResult",
    "ToolSpec",
    "parse_tool_args",
]

Domain = Literal["inventory", "procurement", "sales", "production", "quality", "maintenance", "finance", "executive",
                 "knowledge"]


class RiskClass(StrEnum):
    """How a tool call is governed: the one risk-class vocabulary of jidoka (tools, actions, policy, models).

    ``read`` tools only return data; actions are ``advisory`` (never execute), ``approval`` (execute once a person
    approved) or ``autonomous`` (execute at once within the policy's thresholds).
    """

    READ = "read"
    ADVISORY = "advisory"
    APPROVAL = "approval"
    AUTONOMOUS = "autonomous"


RISK_CLASSES: tuple[str, ...] = tuple(RiskClass)
"""Every risk class's name, least governed first."""


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ToolResult(BaseModel):
    """Base of every tool's result: what was read and when the data was current."""

    status: Literal["ok", "not_found"] = "ok"
    as_of: datetime = Field(description="The time the plant data is current as of.")
    record_ids: list[str] = Field(default_factory=list, description="Ids of every record this result read.")


class NotFound(ToolResult):
    """A typed 'not found' answer: the caller named records that do not exist in their scope."""

    status: Literal["ok", "not_found"] = "not_found"
    entity: str
    missing_ids: list[str]
    message: str


class ServiceUnavailable(ToolError):
    """A service the tool needs (the knowledge index, an embeddings endpoint) is not available.

    ``reason`` is for the caller and the model: it names no file or URL of the server. ``detail`` (the failure as
    the service reported it, paths and all) is for the operator: the audit records it."""

    def __init__(self, tool: str, reason: str, detail: str | None = None) -> None:
        self.tool = tool
        self.reason = reason
        self.detail = detail or reason
        super().__init__(f"{tool} is unavailable: {reason}")


def parse_tool_args(tool: str, model: type[ToolArgs], raw: Mapping[str, Any] | ToolArgs) -> ToolArgs:
    """Validate ``raw`` into ``model`` for ``tool``; :class:`ArgumentError` names the first bad field."""
    if isinstance(raw, model):
        return raw
    if not isinstance(raw, Mapping):
        raise ArgumentError(tool, "(arguments)", "arguments must be a JSON object")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        ctx = first.get("ctx") or {}
        # Model-level validators name their field in ctx; field errors carry it in loc.
        loc = str(ctx["field"]) if "field" in ctx else ".".join(str(p) for p in first["loc"])
        raise ArgumentError(tool, loc or "(arguments)", first["msg"]) from None


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool call needs besides its arguments, injected by the caller."""

    engine: Engine
    scope: DataScope
    today: date
    """The plant's 'today' (``JIDOKA_TODAY``)."""
    as_of: datetime
    """The time the data is current as of, reported on every result."""
    knowledge: DocumentIndex | None = None
    """The document index (opened lazily by its owner); ``None`` where no tool needs it."""
    roles: frozenset[str] = frozenset()
    """The caller's roles: document tools filter documents by the roles they name."""
    domains: frozenset[str] = frozenset()
    """The data domains the caller's roles grant: document tools filter documents by domain."""


ToolFn = Callable[[ToolContext, Any], ToolResult]


@dataclass(frozen=True)
class ToolSpec:
    """A catalog entry: the metadata the gate and the model use, and the function that runs."""

    name: str
    description: str
    domain: Domain
    args_model: type[ToolArgs]
    result_model: type[ToolResult]
    fn: ToolFn
    sensitive_fields: frozenset[str] = field(default_factory=frozenset)
    """``table.column`` fields the tool may return; the scope decides whether it does."""
    risk_class: ClassVar[RiskClass] = RiskClass.READ
    """Every catalog tool only reads; changes are actions (:mod:`tools.actions`), governed by the action gate."""

    def parse_args(self, raw: Mapping[str, Any] | ToolArgs) -> ToolArgs:
        """Validate ``raw`` into the tool's argument model; :class:`ArgumentError` names the bad field."""
        return parse_tool_args(self.name, self.args_model, raw)

    def invoke(self, ctx: ToolContext, raw: Mapping[str, Any] | ToolArgs) -> ToolResult:
        """Validate the arguments and run the tool; unknown records become a :class:`NotFound` result."""
        args = self.parse_args(raw)
        try:
            return self.fn(ctx, args)
        except RecordNotFound as exc:
            return NotFound(
                as_of=ctx.as_of,
                entity=exc.entity,
                missing_ids=list(exc.ids),
                message=str(exc),
            )

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (for the model and ``jidoka tools``)."""
        return self.args_model.model_json_schema()
