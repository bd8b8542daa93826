"""Procedure questions: "what does the hold procedure say?" is answered from the plant's documents.

A question about how something is done or what a procedure, policy, rule or work instruction says (or one
naming a document id such as QP-004) becomes one ``search_documents`` call with the question as the query.
The answer quotes the best passages verbatim as data, each cited as ``[QP-004 §3]`` and, the first time a
document is quoted, with its revision and who published it (``(rev D, published by quinn.quality)``), so a reader
sees which revision speaks and on whose authority; text inside the passages is never followed — quoting is all
the model does with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent.rules.format import data_text, label
from agent.rules.text import fold

__all__ = ["SEARCH_TOOL", "WRITERS", "is_procedure_question", "is_question", "names_document", "planned_search",
           "procedure_args"]

SEARCH_TOOL = "search_documents"

_DOC_ID = re.compile(r"\b(?:QP|WI|MP|PP|GOV|SITE|FIN|CON|SOP)-[A-Z0-9]+(?:-[A-Z0-9]+)*\b")
# Words that make a question about documents, whatever the phrasing (English and Spanish, accents folded).
_STRONG = re.compile(
    r"\b(?:procedures?|sops?|polic(?:y|ies)|work\s+instructions?|instructions?\s+for|guidelines?|rules?|"
    r"steps?|manual|handbook|checklist|approval\s+limits?|spending\s+limits?|lockout|tagout|loto|"
    r"procedimientos?|instrucci(?:o|on)|instrucciones|politicas?|reglas?|pasos|manual)\b")
_HOW = re.compile(
    r"(?:^\W*|[.?!¿¡]\s*|\b(?:and|so|then|but)\s+)(?:how\s+(?:do|should|must|can|would)\s+(?:i|we|you|one|they)|how\s+to|"
    r"what\s+(?:should|must|do)\s+(?:i|we)\s+do|what\s+(?:is|are)\s+the\s+(?:process|requirements?)|"
    r"who\s+(?:approves|can\s+approve|must\s+approve|signs\s+off)|"
    r"how\s+often\s+(?:do|does|should|must|is|are)|"
    r"what\s+(?:is|are)\s+the\s+(?:intervals?|frequency|limits?)|what\s+happens\s+(?:when|if)|"
    r"am\s+i\s+allowed|are\s+we\s+allowed|is\s+it\s+allowed|como\s+(?:se|debo|hago|puedo))\b")
_SAYS = re.compile(r"\bwhat\s+does\s+(?:the\s+|our\s+)?\S+(?:\s+\S+){0,4}\s+(?:say|require|state)s?\b|"
                   r"\baccording\s+to\b|\bque\s+dice\b")
_NAME = re.compile(r"[A-Za-z0-9][\w.:@-]{0,79}")
"""A revision or a publisher as shown (a revision letter, a user id, ``system:jidoka``); anything else is left out."""
_MAX_SENTENCES = 2
_MAX_HITS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z¿¡(])")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_COMMON = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "in", "is", "it",
    "its", "my", "of", "on", "or", "our", "say", "says", "the", "to", "what", "when", "where", "which", "who",
    "why", "with", "we", "you", "your", "should", "must", "can", "this", "that", "there", "de", "del", "el", "en",
    "la", "las", "los", "y", "que", "para", "por", "un", "una", "se"
))


def names_document(question: str) -> bool:
    """True when ``question`` asks about a document itself: its id, what it says, or a procedure by name."""
    if _DOC_ID.search(question):
        return True
    text = fold(question)
    return bool(_STRONG.search(text) or _SAYS.search(text))


def is_procedure_question(question: str) -> bool:
    """True when ``question`` asks what a document says or how something is done."""
    if _DOC_ID.search(question):
        return True
    text = fold(question)
    return bool(_STRONG.search(text) or _HOW.search(text) or _SAYS.search(text))


_ASKING = re.compile(r"^\W*(?:how|what|what's|whats|who|whom|when|which|where|why|is|are|can|could|do|does|should|"
                     r"must|may|am|tell\s+me|explain|show\s+me|como|que|cual|cuales|quien|cuando|donde)\b")


def is_question(question: str) -> bool:
    """True for a question rather than an order ("how do I release…?" vs "release LOT-…")."""
    return question.rstrip().endswith("?") or bool(_ASKING.match(fold(question)))


def procedure_args(question: str) -> dict[str, Any]:
    """The search arguments: the question itself is the query (hybrid retrieval handles the phrasing)."""
    query = " ".join(question.split())[:500]
    return {"query": query if len(query) >= 2 else "procedure", "limit": 5}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(fold(text)) if w not in _COMMON}


def _extract(body: str, question: str) -> str:
    """The two consecutive sentences of ``body`` sharing most words with the question."""
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(body.split())) if s.strip()]
    if not sentences:
        return ""
    wanted = _words(question)
    # The best window of consecutive sentences: a quote must be verbatim to count as evidence.
    starts = range(max(1, len(sentences) - _MAX_SENTENCES + 1))
    best = max(starts, key=lambda i: (len(set().union(*(_words(s) for s in sentences[i:i + _MAX_SENTENCES]))
                                          & wanted), -i))
    return " ".join(sentences[best:best + _MAX_SENTENCES])


def _passage(text: Any) -> str:
    """The passage text without its first line (the id, title and heading that were embedded with it)."""
    inner = data_text(text) if text is not None else None
    if not inner:
        return ""
    raw = str(text)
    block = re.search(r">>>\n?(.*?)\n?<<<END DATA", raw, re.S)
    original = block.group(1) if block else raw
    lines = original.split("\n", 1)
    return " ".join((lines[1] if len(lines) > 1 else lines[0]).split())


def _provenance(hit: Mapping[str, Any]) -> str:
    """`` (rev D, published by quinn.quality)``: the hit's revision and publisher, each only if it looks like one."""
    revision, by = str(hit.get("revision") or "").strip(), str(hit.get("published_by") or "").strip()
    parts = [f"rev {revision}"] if _NAME.fullmatch(revision) else []
    if _NAME.fullmatch(by):
        parts.append(f"published by {by}")
    return f" ({', '.join(parts)})" if parts else ""


def write_documents(result: Mapping[str, Any], focus: Any) -> list[str]:
    """Quoted extracts of the best passages, each cited; nothing found says so."""
    hits = [h for h in result.get("hits") or [] if isinstance(h, Mapping)]
    question = str(result.get("query") or (getattr(focus, "args", {}) or {}).get("query") or "")
    if not hits:
        return ["I found no passage in the documents you may read that answers this. The procedure may not be "
                "in the knowledge base, or it may be restricted to other roles or sites."]
    lines = ["From the plant's documents:"]
    shown = 0
    withheld: list[str] = []
    stamped: set[str] = set()
    for hit in hits:
        citation = str(hit.get("citation") or "")
        body = _passage(hit.get("text"))
        if not citation:
            continue
        if not body:
            withheld.append(citation)
            continue
        extract = _extract(body, question)
        # Names are quoted verbatim too: a figure in a title ("Packaging Line 1") is then evidence, not a claim.
        title = data_text(hit.get("title")) or ""
        heading = label(hit.get("heading"))
        where = f"\"{title}\"" if len(title) >= 12 else str(hit.get("doc_id") or "")
        doc_id = str(hit.get("doc_id") or "")
        stamp = "" if doc_id in stamped else _provenance(hit)
        stamped.add(doc_id)
        lines.append(f"- {where}{', ' + heading if heading else ''}: \"{extract}\" [{citation}]{stamp}")
        shown += 1
        if shown >= _MAX_HITS:
            break
    if withheld:
        lines.append(f"(Passages {', '.join(withheld)} were withheld: they contain instruction-like text.)")
    others = list(dict.fromkeys(str(h.get("citation")) for h in hits[shown + len(withheld):] if h.get("citation")))
    if others:
        lines.append(f"See also [{', '.join(others)}].")
    return lines


WRITERS: dict[str, Any] = {SEARCH_TOOL: write_documents}


def planned_search(question: str, tools: Sequence[str] | frozenset[str], english: str = "") -> dict[str, Any] | None:
    """The ``search_documents`` arguments for a procedure question when the tool is offered, else ``None``
    (``english``: the question's English rewording when it was typed in Spanish; the query stays the user's)."""
    if SEARCH_TOOL not in tools or not (is_procedure_question(question)
                                        or (english and is_procedure_question(english))):
        return None
    return procedure_args(question)
