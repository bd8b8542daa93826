"""``jidoka knowledge``: ingest documents and search them as a user (through the gate, like the copilot)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from knowledge.errors import KnowledgeError
from knowledge.ingest import IngestReport, demo_corpus_dir, ingest_path
from server.cli.common import cli_settings, console, fail, literal, masked
from server.runtime import build_runtime, knowledge_index
from tools.documents import SearchDocumentsResult

__all__ = ["ingest_demo_corpus", "knowledge_app"]

knowledge_app = typer.Typer(help="The plant's documents: ingest them, search them as a user.", no_args_is_help=True)


def _report_json(report: IngestReport) -> dict[str, object]:
    return {"added": list(report.added), "updated": list(report.updated), "unchanged": list(report.unchanged),
            "removed": list(report.removed), "chunks_embedded": report.chunks_embedded,
            "chunks_total": report.chunks_total, "seconds": round(report.seconds, 2)}


@knowledge_app.command("ingest")
def ingest(
    ctx: typer.Context,
    path: Path = typer.Argument(None, help="A Markdown file or a folder of them (default: the demo corpus)."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Ingest documents (idempotent: unchanged documents are not re-embedded; vanished ones are removed)."""
    settings = cli_settings(ctx)
    target = path if path is not None else demo_corpus_dir()
    index = knowledge_index(settings)
    try:
        report = ingest_path(index, target)
    except KnowledgeError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_report_json(report), indent=2))
        return
    console().print(f"knowledge: {report.summary()}\nindex: {masked(index.location)}", markup=False)


@knowledge_app.command("search")
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to look for."),
    as_user: str = typer.Option(..., "--as", help="Search as this user: the gate decides, the scope filters."),
    limit: int = typer.Option(5, "--limit", min=1, max=10, help="How many passages."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Search the documents USER may read (the search_documents tool, audited like every tool call)."""
    runtime = build_runtime(cli_settings(ctx))
    try:
        trace = runtime.trace(as_user)
        with runtime.audit.buffer() as audit:
            user = runtime.tools.identify(as_user, trace, audit)
            outcome = runtime.tools.call(user, "search_documents", {"query": query, "limit": limit}, trace=trace,
                                         audit=audit)
    finally:
        runtime.close()
    if outcome.refusal is not None:
        raise fail(f"{outcome.refusal.status} by {outcome.refusal.rule_id}: {outcome.refusal.reason}")
    result = outcome.result
    if not isinstance(result, SearchDocumentsResult):  # the catalog maps search_documents to this result type
        raise fail(f"search_documents returned {type(result).__name__}, not document hits")
    if as_json:
        typer.echo(json.dumps({"trace_id": trace.trace_id, "rule_id": outcome.decision.rule_id,
                               "query": result.query, "hits": [h.model_dump(mode="json") for h in result.hits]},
                              indent=2, ensure_ascii=False))
        return
    out = console()
    if not result.hits:
        out.print(f"no passages you may read match {query!r} — trace {trace.trace_id}", markup=False)
        return
    table = Table(title=f"{len(result.hits)} passages for {literal(as_user)} — trace {trace.trace_id}",
                  title_justify="left", show_lines=True)
    for column in ("citation", "title", "section", "passage"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        body = hit.text.split("\n", 1)[-1]
        passage = body[:300] + ("…" if len(body) > 300 else "")
        table.add_row(*(literal(v) for v in (hit.citation, hit.title, hit.heading, passage)))
    out.print(table)


def ingest_demo_corpus(ctx: typer.Context) -> None:
    """Ingest the demo corpus for ``jidoka init``; a failure is reported without undoing the plant."""
    settings = cli_settings(ctx)
    index = knowledge_index(settings)
    try:
        report = ingest_path(index, demo_corpus_dir())
    except KnowledgeError as exc:
        console().print(f"[yellow]knowledge: not ingested[/yellow] — {literal(masked(str(exc)))}")
        return
    console().print(f"knowledge: {report.summary()}", markup=False)
