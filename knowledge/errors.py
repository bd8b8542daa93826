"""The error tree of the knowledge package, and :class:`JidokaError`, the root of every jidoka error.

The root lives here because knowledge is the lowest layer: every package's error tree can derive from it without
importing upwards. The CLI and the HTTP error handler catch the root, so any package's error reaches a person as
one clear sentence, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "CorpusError",
    "EmbedderUnavailable",
    "EmbeddingError",
    "JidokaError",
    "KnowledgeError",
    "StoreInUse",
    "StoreUnavailable",
]


class JidokaError(Exception):
    """Root of every error jidoka raises on purpose; its message is one sentence a person can act on."""

    trace_id: str | None = None
    """The trace of the audit event that recorded this error as a refusal, when one did. Whoever audits the
    refusal sets it, so the refused person can quote it and an auditor find it (``jidoka audit show --trace``)."""


class KnowledgeError(JidokaError):
    """Base of every error raised by the knowledge package."""


class EmbedderUnavailable(KnowledgeError):
    """The configured embedder cannot be built (package missing, unknown ``JIDOKA_EMBEDDINGS`` value)."""


class EmbeddingError(KnowledgeError):
    """An embedder failed on some input (a remote endpoint error, a malformed response)."""


class CorpusError(KnowledgeError):
    """A document cannot be ingested; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class StoreUnavailable(KnowledgeError):
    """The Chroma store cannot be opened or reached (``JIDOKA_HOME/knowledge`` or ``JIDOKA_CHROMA_URL``)."""


class StoreInUse(KnowledgeError):
    """An embedded knowledge store is held by another jidoka process that writes to it (a server or an ingest).

    Embedded Chroma is for one writing process at a time: the message names the holder's pid and the way out
    (stop it, or run Chroma as a server so both share it).
    """

    def __init__(self, directory: str, pid: int | None, holder: str, wanted: str) -> None:
        self.directory = directory
        self.pid = pid
        self.holder = holder
        self.wanted = wanted
        who = {"serve": "a running jidoka server", "ingest": "a running `jidoka knowledge ingest`"}.get(
            holder, "another jidoka process")
        pid_text = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"the knowledge base under {directory} is in use by {who} ({pid_text}): stop it to {wanted}, "
                         "or run Chroma as a server (JIDOKA_CHROMA_URL) so ingest and serve share it")
