"""``jidoka knowledge``: publish documents (governed, audited) and search them as a user (through the gate, like the
copilot).

``jidoka knowledge ingest PATH --as USER`` publishes as USER: the publication gate decides every document (new →
published if USER may publish its domain at all its sites; a replacement of a published id → an approval request to
the document's owners; unchanged → nothing; refused → nothing), and every decision and publication is audited.
Without PATH it publishes the corpus shipped with jidoka as the system publisher (what ``jidoka init`` does).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from guardrails.errors import UnknownUser
from guardrails.publishing import SYSTEM_PUBLISHER, PublicationReport
from knowledge.documents import load_documents
from knowledge.errors import JidokaError, KnowledgeError
from knowledge.ingest import demo_corpus_dir
from server.cli.common import cli_settings, console, fail, literal, masked
from server.publishing import open_publications
from server.runtime import build_runtime
from server.settings import Settings
from tools.documents import SearchDocumentsResult

__all__ = ["ingest_demo_corpus", "knowledge_app"]

knowledge_app = typer.Typer(help="The plant's documents: publish them, search them as a user.", no_args_is_help=True)


def _publish(settings: Settings, path: Path | None, as_user: str | None, reason: str) -> tuple[PublicationReport, str]:
    """Publish the documents under ``path`` as ``as_user`` (``None``: the shipped corpus, by the system)."""
    source = (path if path is not None else demo_corpus_dir()).expanduser().resolve()
    with open_publications(settings) as session, session.audit.buffer() as audit:
        documents = load_documents(source)
        publications, trace_id = session.publications, uuid.uuid4().hex
        if as_user is None:
            trace = publications.trace(SYSTEM_PUBLISHER, trace_id)
            return publications.publish_shipped(documents, source=str(source), trace=trace, audit=audit), \
                session.location
        trace = publications.trace(as_user, trace_id)
        user = publications.identify(as_user, trace, audit)
        return publications.publish(user, documents, source=str(source), reason=reason, trace=trace,
                                    audit=audit), session.location


def _print(report: PublicationReport, location: str) -> None:
    out = console()
    out.print(escape(f"knowledge: {report.summary()}\npublished by: {report.publisher}"))
    for item in report.pending:
        out.print(escape(f"pending: {item.doc_id} rev {item.revision} waits for approval as {item.request_id} — "
                         f"{item.reason} (`jidoka approvals show {item.request_id}`)"))
    for item in report.refused:
        out.print("[red]refused[/red]: " + escape(f"{item.doc_id} rev {item.revision} — {item.reason} "
                                                  f"[{item.rule_id}]"))
    for item in report.kept:
        out.print(escape(f"kept: {item.doc_id} — {item.reason}"))
    out.print(escape(f"index: {masked(location)}"))


@knowledge_app.command("ingest")
def ingest(
    ctx: typer.Context,
    path: Path = typer.Argument(None, help="A Markdown file or a folder of them (default: the demo corpus shipped "
                                           "with jidoka, published by the system publisher)."),
    as_user: str | None = typer.Option(None, "--as", help="Publish as this user (required with PATH): the policy "
                                                          "decides each document; a replacement waits for its "
                                                          "owner's approval."),
    reason: str = typer.Option("", "--reason", help="Why: kept in the audit and shown to the approvers."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Publish documents: new ones at once, replacements after approval, unchanged ones not at all; audited."""
    if path is not None and not as_user:
        raise typer.BadParameter("publishing your documents needs a user: --as USER (only the shipped corpus, "
                                 "without PATH, is published by the system)", param_hint="--as")
    try:
        report, location = _publish(cli_settings(ctx), path, as_user, reason)
    except (KnowledgeError, UnknownUser) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        _print(report, location)
    if report.refused:
        raise typer.Exit(1)


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
    for column in ("citation", "title", "section", "revision", "passage"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        body = hit.text.split("\n", 1)[-1]
        passage = body[:300] + ("…" if len(body) > 300 else "")
        table.add_row(*(literal(v) for v in (hit.citation, hit.title, hit.heading, hit.provenance, passage)))
    out.print(table)


def ingest_demo_corpus(ctx: typer.Context) -> None:
    """Publish the demo corpus for ``jidoka init`` (the system publisher); a failure is reported without undoing the
    plant."""
    try:
        report, _ = _publish(cli_settings(ctx), None, None, "")
    except JidokaError as exc:
        console().print(f"[yellow]knowledge: not ingested[/yellow] — {literal(masked(str(exc)))}")
        return
    console().print(f"knowledge: {report.summary()} (published by {report.publisher})", markup=False)
