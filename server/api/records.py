"""``GET /v1/records/{record_id}``: a small detail view of a cited record, read through the gate.

The id's shape names the kind of record; each kind lists read tools that can
show it (first the one the caller's role is granted). The call goes through
:meth:`GovernedTools.call` with the caller's scope, so it is decided, scoped in
SQL, masked and audited like any tool call of a turn: a refusal of the caller's
role is a 403 with the gate's rule id; a record outside the caller's scope and an
unknown one are the same 404, so ids cannot be sorted by site.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from guardrails.governed import Refusal
from server.api.deps import Caller, record_caller
from server.api.errors import Forbidden, NotFound, Unavailable
from server.api.turns import governed
from tools.lineage import citation_lineage

__all__ = ["RECORD_KINDS", "RecordKind", "router"]

router = APIRouter(tags=["records"])

Args = Callable[[re.Match[str], str | None], dict[str, Any]]
Pick = Callable[[dict[str, Any], re.Match[str]], Any]
_META = ("status", "as_of", "record_ids")


def _whole(result: dict[str, Any], _m: re.Match[str]) -> Any:
    return {k: v for k, v in result.items() if k not in _META}


def _row(list_key: str, id_key: str, group: int = 0) -> Pick:
    def pick(result: dict[str, Any], m: re.Match[str]) -> Any:
        return next((r for r in result.get(list_key) or [] if r.get(id_key) == m.group(group)), None)
    return pick


def _rows(list_key: str) -> Pick:
    def pick(result: dict[str, Any], _m: re.Match[str]) -> Any:
        return _whole(result, _m) if result.get(list_key) else None
    return pick


def _passage(result: dict[str, Any], m: re.Match[str]) -> Any:
    return next((h for h in result.get("hits") or [] if h.get("citation") == m.group(0)), None)


def _po(result: dict[str, Any], m: re.Match[str]) -> Any:
    key, value = ("line_id", m.group(0)) if m.group(2) else ("po_id", m.group(1))
    lines = [r for r in result.get("rows") or [] if r.get(key) == value]
    return {"po_id": m.group(1), "open_lines": lines} if lines else None


@dataclass(frozen=True)
class RecordKind:
    """One kind of citable record: its id pattern and the read tools that can show it."""

    kind: str
    pattern: re.Pattern[str]
    tools: tuple[tuple[str, Args, Pick], ...]
    """(tool, arguments from the id match and the record's site, what to show from the result)."""
    site_of: str | None = None
    """The locator kind to resolve first when a tool can only filter by site (work orders, quality events)."""


RECORD_KINDS: tuple[RecordKind, ...] = (
    RecordKind("po_line", re.compile(r"^(PO-\d+)(/(\d+))?$"), (
        ("open_po_lines", lambda m, _s: {"po_id": m.group(1), "limit": 500}, _po),)),
    RecordKind("lot", re.compile(r"^LOT-[A-Z0-9]+-\d+$"), (
        ("lot_genealogy", lambda m, _s: {"lot_id": m.group(0), "depth": 1}, _whole),
        ("inventory_lookup", lambda m, _s: {"lot_id": m.group(0)}, _rows("rows")))),
    RecordKind("item", re.compile(r"^(?:CP|FG|RM|SP)-\d+$"), (
        ("inventory_lookup", lambda m, _s: {"item_id": m.group(0), "limit": 200}, _rows("rows")),)),
    RecordKind("supplier", re.compile(r"^S-\d+$"), (
        ("supplier_scorecard", lambda m, _s: {"supplier_id": m.group(0)}, _row("rows", "supplier_id")),)),
    RecordKind("asset", re.compile(r"^AS-\d+$"), (
        ("assets_at_risk", lambda m, _s: {"asset_id": m.group(0), "threshold": 0.0}, _row("assets", "asset_id")),)),
    RecordKind("work_order", re.compile(r"^WO-\d+$"), (
        ("work_orders", lambda m, s: {"site_id": s, "limit": 500}, _row("work_orders", "wo_id")),), site_of="wo"),
    RecordKind("quality_event", re.compile(r"^QE-\d+$"), (
        ("quality_events", lambda m, s: {"site_id": s, "days": 3650, "limit": 500}, _row("events", "qe_id")),),
        site_of="qe"),
    RecordKind("line", re.compile(r"^P\d{3}-[A-Z]{2}\d+$"), (
        ("line_performance", lambda m, _s: {"line_id": m.group(0)}, _row("lines", "line_id")),)),
    RecordKind("machine", re.compile(r"^M-P\d{3}-[A-Z]{2}\d+-\d+$"), (
        ("machine_downtime", lambda m, _s: {"machine_id": m.group(0)}, _whole),)),
    # A document passage, cited as "QP-004 §3": searched in the reader's document scope, matched exactly.
    RecordKind("document", re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+ §[0-9A-Za-z.]+$"), (
        ("search_documents", lambda m, _s: {"query": m.group(0), "limit": 10}, _passage),)),
)


def _lookup(who: Caller, record_id: str) -> dict[str, Any]:
    runtime = who.services.runtime
    match = next(((k, m) for k in RECORD_KINDS if (m := k.pattern.match(record_id))), None)
    if match is None:
        raise NotFound(f"{record_id!r} is not an id of a record with a detail view")
    kind, m = match
    missing = NotFound(f"no {kind.kind.replace('_', ' ')} {record_id} in your scope")
    site: str | None = None
    if kind.site_of is not None:
        # Only a site the caller may read narrows the search; an unknown record and one at another site both
        # search the caller's own sites, are audited alike and end in the same 404 (no existence oracle).
        resolver = runtime.tools.gate.resolver
        found = resolver.site_of(kind.site_of, record_id) if resolver is not None else None
        allowed = runtime.tools.gate.decide(who.user, kind.tools[0][0], {}).scope.sites
        site = found if found is not None and (allowed is None or found in allowed) else None
    candidates = [(tool, args(m, site), pick) for tool, args, pick in kind.tools if tool in runtime.catalog]
    if not candidates:
        raise NotFound(f"no tool shows {kind.kind.replace('_', ' ')} records here")
    # The first tool the gate would allow for these arguments; else the first, so the refusal is audited.
    tool, args, pick = next((c for c in candidates if runtime.tools.gate.decide(who.user, c[0], c[1]).allowed),
                            candidates[0])
    trace = runtime.trace(who.user.user_id)
    with runtime.audit.buffer() as buffer:
        outcome = runtime.tools.call(who.user, tool, args, trace=trace, audit=buffer)
    missing.trace_id = trace.trace_id  # the gate's decision and the tool's outcome are in this trace
    answer = outcome.result_or_refusal()
    if isinstance(answer, Refusal):
        if answer.status == "invalid_arguments":
            raise missing
        if answer.status == "unavailable":
            raise Unavailable(answer.reason)
        denied = Forbidden(f"{answer.reason} [{answer.rule_id}]")
        denied.trace_id = trace.trace_id
        raise denied
    result = answer.model_dump(mode="json")
    shown = pick(result, m) if result.get("status") == "ok" else None
    if shown is None:
        raise missing
    lineage = citation_lineage([record_id], [(tool, result)])  # from this governed read only
    return {"id": record_id, "kind": kind.kind, "tool": tool, "rule_id": outcome.decision.rule_id,
            "as_of": result.get("as_of"), "trace_id": trace.trace_id, "record": shown,
            "lineage": lineage[0].model_dump(mode="json") if lineage else None}


@router.get("/v1/records/{record_id:path}", summary="A cited record, through the gate",
            responses={401: {"description": "Not authenticated."}, 403: {"description": "The gate refused."},
                       404: {"description": "Unknown id, or not in the caller's scope."},
                       503: {"description": "The service behind the record (e.g. documents) is unavailable."}})
def record(record_id: Annotated[str, Path(max_length=64, description="A cited id: PO-24017/2, LOT-P100-0404, "
                                                                      "WO-5101, CP-2037, S-001, AS-001, …")],
           who: Annotated[Caller, Depends(record_caller)]) -> dict[str, Any]:
    """The record as the caller's scope shows it (``record``), with the tool and rule that allowed it. An unknown
    id and a record outside the caller's scope get the same 404; lookups are rate-limited like chat turns."""
    return governed(who.services, lambda: _lookup(who, record_id), exclusive=False)


