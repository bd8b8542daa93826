"""Documents and their chunks: Markdown with YAML front matter, split at ``##`` headings.

Front matter (all required)::

    ---
    id: QP-004
    title: Quality hold and containment
    sites: ["*"]            # or [P100] / [P200]: the sites the document applies to
    domains: [quality, production, inventory]   # plant data domains, or [general]
    roles: ["*"]            # roles that may read it, or e.g. [finance, executive]
    revision: C
    effective: 2026-01-15
    ---

Each ``##`` section is one chunk (a long section becomes several parts); the citation of a chunk is the
document id and the section number of its heading (``QP-004 §3``). A chunk id is the document id, the
section and a hash of the chunk's text, so it is stable while the text is unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from knowledge.errors import CorpusError

__all__ = ["ALL", "Chunk", "Document", "chunk_document", "load_documents", "parse_document", "render_document"]

ALL = "*"
"""In ``sites`` or ``roles``: every site / every role that may read documents."""

_DOC_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_SECTION_NO = re.compile(r"^(\d+(?:\.\d+)*)[.)]?\s+")
_MAX_WORDS = 170
"""Longer sections are split into parts at paragraph breaks (the embedder reads 256 word pieces)."""


@dataclass(frozen=True)
class Document:
    """One parsed document."""

    doc_id: str
    title: str
    sites: tuple[str, ...]
    domains: tuple[str, ...]
    roles: tuple[str, ...]
    revision: str
    effective: date
    body: str
    path: str
    language: str = "en"

    @property
    def content_hash(self) -> str:
        """SHA-256 over the front matter and the body: any change makes a new hash."""
        head = "|".join([self.doc_id, self.title, ",".join(self.sites), ",".join(self.domains),
                         ",".join(self.roles), self.revision, self.effective.isoformat(), self.language])
        return hashlib.sha256(f"{head}\n{self.body}".encode()).hexdigest()


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a document."""

    chunk_id: str
    doc_id: str
    section: str
    """The section number cited as ``§<section>`` (``0`` for text before the first heading)."""
    heading: str
    text: str
    """What is embedded and searched: the title, the heading and the section's text."""
    part: int = 1

    @property
    def citation(self) -> str:
        """``QP-004 §3``."""
        return f"{self.doc_id} §{self.section}"


def _strings(path: str, meta: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = meta.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise CorpusError(path, f"front matter '{key}' must be a non-empty list of names")
    return tuple(sorted({v.strip() for v in value}))


def parse_document(text: str, path: str = "<text>") -> Document:
    """Parse one Markdown document; :class:`CorpusError` names what is wrong with it."""
    if not text.startswith("---"):
        raise CorpusError(path, "missing YAML front matter (the file must start with '---')")
    try:
        _, raw_meta, body = text.split("---", 2)
        meta = yaml.safe_load(raw_meta)
    except ValueError:
        raise CorpusError(path, "the front matter is not closed by a '---' line") from None
    except yaml.YAMLError as exc:
        raise CorpusError(path, f"the front matter is not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise CorpusError(path, "the front matter must be a mapping")
    missing = [k for k in ("id", "title", "sites", "domains", "roles", "revision", "effective") if k not in meta]
    if missing:
        raise CorpusError(path, f"front matter lacks {', '.join(missing)}")
    doc_id = str(meta["id"]).strip()
    if not _DOC_ID.match(doc_id):
        raise CorpusError(path, f"id {doc_id!r} must look like QP-004 (capitals, digits, hyphens)")
    effective = meta["effective"]
    if not isinstance(effective, date):
        try:
            effective = date.fromisoformat(str(effective))
        except ValueError:
            raise CorpusError(path, f"effective {effective!r} must be an ISO date") from None
    if not body.strip():
        raise CorpusError(path, "the document has no text")
    return Document(doc_id=doc_id, title=str(meta["title"]).strip(), sites=_strings(path, meta, "sites"),
                    domains=_strings(path, meta, "domains"), roles=_strings(path, meta, "roles"),
                    revision=str(meta["revision"]).strip(), effective=effective, body=body.strip() + "\n",
                    path=path, language=str(meta.get("language") or "en"))


def render_document(document: Document) -> str:
    """``document`` as Markdown with its front matter: :func:`parse_document` reads it back to a document with the
    same content hash (what an approval request stores, so the approved text is exactly what gets published)."""
    meta = {"id": document.doc_id, "title": document.title, "sites": list(document.sites),
            "domains": list(document.domains), "roles": list(document.roles), "revision": document.revision,
            "effective": document.effective.isoformat(), "language": document.language}
    text = f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n\n{document.body}"
    if parse_document(text, document.path).content_hash != document.content_hash:
        raise CorpusError(document.path, "its front matter cannot be written back unchanged (a '---' in a value?)")
    return text


def load_documents(path: Path) -> list[Document]:
    """Every ``*.md`` document under ``path`` (a folder, recursively, or one file), sorted by id.

    Two files with one id are an error: the second would silently replace the first.
    """
    if not path.exists():
        raise CorpusError(str(path), "no such file or folder")
    files = sorted(path.rglob("*.md")) if path.is_dir() else [path]
    documents: dict[str, Document] = {}
    for file in files:
        if file.name.lower() == "readme.md":
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(str(file), f"cannot be read as UTF-8 text ({exc.__class__.__name__})") from None
        document = parse_document(text, str(file))
        if document.doc_id in documents:
            raise CorpusError(str(file), f"id {document.doc_id} is also used by {documents[document.doc_id].path}")
        documents[document.doc_id] = document
    return [documents[k] for k in sorted(documents)]


def _sections(body: str) -> Iterator[tuple[str, str, str]]:
    """(section number, heading, text) per ``##`` section; text before the first heading is section 0."""
    matches = list(_HEADING.finditer(body))
    intro = body[:matches[0].start()] if matches else body
    intro = re.sub(r"^#\s+.*$", "", intro, flags=re.MULTILINE).strip()
    if intro:
        yield "0", "Overview", intro
    for i, match in enumerate(matches, start=1):
        end = matches[i].start() if i < len(matches) else len(body)
        heading = match.group(1).strip()
        number = _SECTION_NO.match(heading)
        section = number.group(1) if number else str(i)
        title = heading[number.end():].strip() if number else heading
        yield section, title, body[match.end():end].strip()


def _parts(text: str) -> list[str]:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    parts: list[str] = []
    current: list[str] = []
    words = 0
    for paragraph in paragraphs:
        size = len(paragraph.split())
        if current and words + size > _MAX_WORDS:
            parts.append("\n\n".join(current))
            current, words = [], 0
        current.append(paragraph)
        words += size
    if current:
        parts.append("\n\n".join(current))
    return parts or [text]


def chunk_document(document: Document) -> list[Chunk]:
    """The document's chunks, in reading order."""
    chunks: list[Chunk] = []
    for section, heading, text in _sections(document.body):
        if not text:
            continue
        pieces: Sequence[str] = _parts(text)
        for part, piece in enumerate(pieces, start=1):
            embedded = f"{document.doc_id} {document.title} — {heading}\n{piece}"
            digest = hashlib.sha256(embedded.encode()).hexdigest()[:12]
            suffix = f".{part}" if len(pieces) > 1 else ""
            chunks.append(Chunk(chunk_id=f"{document.doc_id}:{section}{suffix}:{digest}", doc_id=document.doc_id,
                                section=section, heading=heading, text=embedded, part=part))
    return chunks
