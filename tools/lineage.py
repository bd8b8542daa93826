"""The lineage of a citation: which system, table and record a cited id is, and as of when — or, for a document
passage, which document, revision and effective date.

Lineage is read only from the tool results of the turn (what the gate allowed and the scope filtered, masked
columns already left out) and from the static map of :mod:`tools.plant.lineage`: it never queries the plant, so
it can show nothing the user's answer could not. A cited id that no successful result of the turn returned (one
the user typed, or one a tool did not find) gets no lineage.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.plant.lineage import LineageMap, RecordRule, System, lineage_map

__all__ = ["DocumentLineage", "RecordLineage", "citation_lineage"]


class RecordLineage(BaseModel):
    """Where a cited plant record comes from."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["record"] = "record"
    citation: str = Field(description="The id as the answer cites it.")
    system: System = Field(description="The system of record of the table: ERP or MES.")
    table: str = Field(description="The plant table the record is a row of.")
    record_id: str = Field(description="The record's id (the cited id).")
    key: dict[str, str | int] = Field(description="The row's primary key, column by column.")
    as_of: datetime = Field(description=(
        "When the record was current: the record's own last-update timestamp (``as_of_source`` 'record', the "
        "column named in ``as_of_column``) for tables whose rows are never changed once written, when the tool "
        "returned that column; otherwise the as-of time of the read that returned it (``as_of_source`` 'read': "
        "the time the plant data the tool read was current as of)."))
    as_of_source: Literal["record", "read"]
    as_of_column: str | None = Field(None, description="The column ``as_of`` was taken from ('record' only).")
    tool: str = Field(description="The tool call of the turn that returned the record.")


class DocumentLineage(BaseModel):
    """Where a cited document passage (``QP-004 §3``) or document (``QP-004``) comes from."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["document"] = "document"
    citation: str
    doc_id: str
    section: str | None = Field(None, description="The cited section; ``None`` when the document is cited whole.")
    revision: str
    effective: str = Field(description="The revision's effective date (ISO), as the knowledge base holds it.")
    chunk_id: str | None = None
    tool: str


def _dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every JSON object in ``value``, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _strings(payload: Mapping[str, Any]) -> frozenset[str]:
    """Every string value of ``payload`` (``record_ids`` included): what the tool returned."""
    found: set[str] = set()
    for d in _dicts(payload):
        for value in d.values():
            if isinstance(value, str):
                found.add(value)
            elif isinstance(value, list):
                found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def _record(citation: str, tool: str, payload: Mapping[str, Any],
            found: tuple[RecordRule, dict[str, Any]]) -> RecordLineage:
    rule, key = found
    column = rule.as_of_column
    if column is not None:
        (name,) = key  # an as-of column needs a single-column key (checked when the map is loaded)
        for row in _dicts(payload):
            stamp = row.get(column) if row.get(name) == citation else None
            if isinstance(stamp, str):
                return RecordLineage(citation=citation, system=rule.system, table=rule.table, record_id=citation,
                                     key=key, as_of=datetime.fromisoformat(stamp), as_of_source="record",
                                     as_of_column=column, tool=tool)
    return RecordLineage(citation=citation, system=rule.system, table=rule.table, record_id=citation, key=key,
                         as_of=datetime.fromisoformat(str(payload["as_of"])), as_of_source="read", tool=tool)


def _document(citation: str, tool: str, payload: Mapping[str, Any]) -> DocumentLineage | None:
    for hit in _dicts(payload):
        if not isinstance(hit.get("doc_id"), str) or "revision" not in hit:
            continue
        whole = hit["doc_id"] == citation
        if whole or hit.get("citation") == citation:
            return DocumentLineage(citation=citation, doc_id=hit["doc_id"],
                                   section=None if whole else str(hit.get("section") or "") or None,
                                   revision=str(hit["revision"]), effective=str(hit.get("effective") or ""),
                                   chunk_id=None if whole else hit.get("chunk_id"), tool=tool)
    return None


def citation_lineage(citations: Sequence[str], results: Sequence[tuple[str, Any]], *,
                     mapping: LineageMap | None = None) -> list[RecordLineage | DocumentLineage]:
    """The lineage of each citation a successful tool result of the turn returned, in citation order.

    ``results``: ``(tool name, parsed result)`` of the turn's tool calls, in call order; refusals, not-found and
    other non-``ok`` results are skipped. A record's lineage comes from the first result that returned its id; a
    citation that names no mapped record or retrieved document (a defect code, an id no result returned) has none.
    """
    mapping = mapping or lineage_map()
    ok = [(tool, payload) for tool, payload in results
          if isinstance(payload, Mapping) and payload.get("status") == "ok" and payload.get("as_of")]
    listed: dict[int, frozenset[str]] = {}  # per result: its record_ids, then (on a miss) every string it holds
    walked: set[int] = set()  # results already walked whole: one walk of each per turn at most
    out: list[RecordLineage | DocumentLineage] = []
    for citation in dict.fromkeys(citations):
        found = mapping.resolve(citation)
        for index, (tool, payload) in enumerate(ok):
            if found is not None:
                if index not in listed:
                    listed[index] = frozenset(r for r in payload.get("record_ids") or () if isinstance(r, str))
                if citation not in listed[index] and index not in walked:
                    walked.add(index)
                    listed[index] = _strings(payload)
                if citation in listed[index]:
                    out.append(_record(citation, tool, payload, found))
                    break
            elif (document := _document(citation, tool, payload)) is not None:
                out.append(document)
                break
    return out
