"""When the audit chain is anchored, and how verify checks the chain against the signed checkpoints.

Writing (:class:`AuditAnchor`): after every committed append, outside its transaction, the log calls
:meth:`AuditAnchor.after_append`, which costs an integer division and a clock reading unless a checkpoint
is due: when the append crosses a multiple of ``every_events`` (whichever process makes that append
writes it, so several workers share the rhythm) or ``every_seconds`` have passed since this process's
last checkpoint. :meth:`AuditAnchor.close` anchors this process's newest append at clean shutdown and
:meth:`guardrails.audit.log.AuditLog.checkpoint` anchors the head on demand. A checkpoint that cannot be
written never fails the append: it is logged as a warning, kept in :attr:`AuditAnchor.last_error`
(reported by verify in the same process) and tried again at the next trigger. So the events after the
newest checkpoint — at most ``every_events``, or ``every_seconds`` of appends — are what a truncation
can still remove unseen.

Checking (:func:`check_chain`): the rows are walked as :class:`~guardrails.audit.verify.ChainChecker`
does; every checkpoint signed by a trusted key must name a (seq, hash) the chain holds. A chain that
ends before a checkpoint's seq was truncated, one whose row at that seq has another hash was rewritten;
either way the report names the first event after the last checkpoint that still matches (one signed
after the failing checkpoint does not count: it was written after the rollback). A line no trusted key
signed is never used and fails the check as a tampered anchor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from guardrails.audit.anchor import (
    AnchorReading,
    Checkpoint,
    CheckpointSigner,
    Located,
    TrustedKeys,
    append_checkpoint,
    read_anchor_files,
)
from guardrails.audit.chain import GENESIS_HASH
from guardrails.audit.verify import (
    AnchorStatus,
    ChainChecker,
    ChainHead,
    ChainProblem,
    CheckedRun,
    StoredRow,
    VerifyReport,
)
from guardrails.errors import AuditAnchorError

__all__ = ["NOT_CONFIGURED", "AuditAnchor", "check_chain"]

_log = logging.getLogger(__name__)

NOT_CONFIGURED = AnchorStatus(configured=False, notes=(
    "no anchor configured (JIDOKA_AUDIT_SIGNING_KEY or JIDOKA_AUDIT_VERIFY_KEY): a deleted tail with a "
    "rewritten head row would pass",))
"""The anchor status of a log checked without signed checkpoints."""

_MAX_BAD_LINES = 20


class AuditAnchor:
    """The anchor file of this process, the keys it trusts and, with a signing key, when it writes.

    Thread-safe; each process keeps its own timer and its own notion of its newest append.
    """

    def __init__(self, path: Path, *, trusted: TrustedKeys, signer: CheckpointSigner | None = None,
                 every_events: int = 100, every_seconds: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """Anchor to ``path``; verify trusts ``trusted`` (and ``signer``'s own key); without ``signer``, read only."""
        if every_events < 1:
            raise ValueError(f"every_events must be >= 1, got {every_events}")
        if not every_seconds > 0:
            raise ValueError(f"every_seconds must be > 0, got {every_seconds}")
        if signer is not None and signer.key_id not in trusted.keys:
            trusted = TrustedKeys({**trusted.keys, signer.key_id: signer.public_key})
        self.path = path
        """The anchor file this process appends to and verify reads first."""
        self.trusted = trusted
        """The keys whose checkpoints verify trusts."""
        self._signer = signer
        self._every = every_events
        self._seconds = every_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._due = monotonic() + every_seconds
        self._seen: tuple[int, str] | None = None  # the newest head this process appended
        self._written = -1  # the highest seq this process anchored
        self.last_error: str | None = None
        """Why this process's last checkpoint could not be written (None after a success)."""

    @property
    def can_sign(self) -> bool:
        """True when a signing key is configured (this process writes checkpoints)."""
        return self._signer is not None

    def after_append(self, first_seq: int, last_seq: int, last_hash: str) -> None:
        """Called after an append of ``first_seq..last_seq`` committed; writes a checkpoint when one is due."""
        seen = self._seen
        if seen is None or last_seq > seen[0]:
            self._seen = (last_seq, last_hash)
        if self._signer is None:
            return
        every = self._every
        if (first_seq - 1) // every == last_seq // every and self._monotonic() < self._due:
            return
        self._write_quietly(ChainHead(last_seq, last_hash))

    def write(self, head: ChainHead) -> Checkpoint:
        """Sign ``head`` and append it to the anchor file; raises :class:`AuditAnchorError` when it cannot."""
        signer = self._signer
        if signer is None:
            raise AuditAnchorError("no signing key: set JIDOKA_AUDIT_SIGNING_KEY (`jidoka audit keygen` makes one)")
        with self._lock:
            self._due = self._monotonic() + self._seconds  # a failing file is retried at the next trigger
            checkpoint = signer.sign(head)
            try:
                append_checkpoint(self.path, checkpoint)
            except AuditAnchorError as exc:
                self.last_error = str(exc)
                raise
            self.last_error = None
            self._written = max(self._written, head.seq)
        return checkpoint

    def _write_quietly(self, head: ChainHead) -> None:
        try:
            self.write(head)
        except AuditAnchorError as exc:
            _log.warning("audit anchor: %s (the events were stored; verify reports the gap)", exc)

    def close(self) -> None:
        """At clean shutdown: anchor this process's newest append unless it is anchored already (never raises)."""
        seen = self._seen
        if self._signer is not None and seen is not None and seen[0] > self._written:
            self._write_quietly(ChainHead(*seen))

    def read(self, extra: Sequence[Path] = ()) -> AnchorReading:
        """The checkpoints of this anchor's file and of ``extra`` files (other hosts' anchors)."""
        return read_anchor_files([self.path, *extra], self.trusted)

    def notes(self) -> tuple[str, ...]:
        """What this process knows that the files do not tell: its last failed write."""
        return () if self.last_error is None else (f"this process could not write its last checkpoint: "
                                                   f"{self.last_error}",)


class _Matcher:
    """Compares the checkpoints with the rows as they are walked (memory: the checkpoints only)."""

    def __init__(self, checkpoints: Iterable[Located]) -> None:
        self.pending: dict[int, list[Located]] = {}
        for located in checkpoints:
            self.pending.setdefault(located[0].seq, []).append(located)
        self.matched: list[Checkpoint] = []
        self.failed: list[tuple[Located, ChainProblem, str]] = []
        self.feed(0, GENESIS_HASH)  # a checkpoint of the empty log names the genesis hash

    def feed(self, seq: int, hash_: str) -> bool:
        found = self.pending.pop(seq, None)
        if found is None:
            return True
        for located in found:
            checkpoint, where = located
            if checkpoint.hash == hash_:
                self.matched.append(checkpoint)
            else:
                self.failed.append((located, ChainProblem.CHECKPOINT_MISMATCH,
                                    f"seq {seq} has hash {hash_[:16]}…, but the checkpoint signed "
                                    f"{checkpoint.ts} ({where}) says {checkpoint.hash[:16]}…"))
        return not self.failed

    def beyond(self, last_seq: int) -> None:
        """The walk reached the end at ``last_seq``: checkpoints still pending name rows that are gone."""
        for seq in sorted(self.pending):
            for located in self.pending[seq]:
                checkpoint, where = located
                self.failed.append((located, ChainProblem.TRUNCATED_BEFORE_CHECKPOINT,
                                    f"the chain ends at seq {last_seq}, but the checkpoint signed "
                                    f"{checkpoint.ts} ({where}) vouches for seq {seq}"))
        self.pending.clear()

    def first_failure(self) -> tuple[int, ChainProblem, str] | None:
        """(first seq no checkpoint vouches for any more, problem, reason) for the lowest failing checkpoint."""
        if not self.failed:
            return None
        (checkpoint, _), problem, detail = min(self.failed, key=lambda f: f[0][0].seq)
        good = [c.seq for c in self.matched if c.seq < checkpoint.seq and c.ts <= checkpoint.ts]
        last_good = max(good, default=0)
        trust = (f"events from seq {last_good + 1} on cannot be trusted (the last checkpoint that still matches "
                 f"is seq {last_good})" if good else "no earlier checkpoint matches: no event can be trusted")
        return last_good + 1, problem, f"{problem.value}: {detail}; {trust}"


def _walk(checker: ChainChecker, pages: Iterable[Sequence[Sequence[Any]] | CheckedRun], matcher: _Matcher | None,
          *, fast: bool) -> bool:
    """Feed every page's rows to ``checker`` and each checked row a checkpoint names to ``matcher``; True when
    a checkpoint did not match (the walk stops at the first problem of either). A :class:`CheckedRun` among the
    pages (rows the parallel walk's workers accepted; never a checkpointed seq) is skipped to."""
    watched = matcher.pending if matcher is not None else {}  # shrinks as checkpoints are matched: only ahead
    for page in pages:
        if isinstance(page, CheckedRun):
            checker.skip_to(page)
            continue
        index, end = 0, len(page)
        while index < end:
            if fast:  # honest rows in bulk; the rest (and checkpointed seqs) one by one below
                index = checker.feed_page(page, index, watched)
                if index == end:
                    break
            row = StoredRow(*page[index])
            index += 1
            if not checker.feed(row):
                return False
            if matcher is not None and not matcher.feed(row.seq, row.hash):
                return True
    return False


def check_chain(pages: Iterable[Sequence[Sequence[Any]] | CheckedRun], head: ChainHead | None,
                reading: AnchorReading | None, *, key_ids: Sequence[str] = (), notes: Sequence[str] = (),
                fast: bool = True) -> VerifyReport:
    """Walk the rows of ``pages`` (seq order, stored columns in :class:`StoredRow` order) as the chain check
    does and, with ``reading``, against its checkpoints.

    Problems inside the chain come first (as without an anchor); then a truncated or rewritten stretch that
    only the checkpoints reveal; then anchor lines no trusted key signed. Without ``reading`` the report says
    that no anchor is configured. ``fast`` accepts rows by :meth:`ChainChecker.feed_page` (the payload's stored
    text hashed as it is) and checks only the others in full; ``fast=False`` parses and re-encodes every
    payload (the reference walk; it also names a re-hashed non-canonical payload at its own row). ``pages`` may
    hold :class:`CheckedRun` items (see :func:`_walk`) only with ``fast``.
    """
    checker = ChainChecker()
    matcher = _Matcher(reading.checkpoints) if reading is not None else None
    rewritten = _walk(checker, pages, matcher, fast=fast)
    if matcher is None or reading is None:
        return replace(checker.finish(head), anchor=NOT_CONFIGURED)
    last_seq = checker.checked
    if not rewritten and not checker.failed:
        matcher.beyond(last_seq)
    matched = [c.seq for c in matcher.matched]
    bad = reading.bad_lines
    shown_bad = bad if len(bad) <= _MAX_BAD_LINES else (*bad[:_MAX_BAD_LINES],
                                                        f"… and {len(bad) - _MAX_BAD_LINES} more")
    status = AnchorStatus(
        configured=True, files=reading.files, key_ids=tuple(key_ids), checkpoints=len(reading.checkpoints),
        matched=len(matched), last_matched_seq=max(matched) if matched else None,
        unanchored=last_seq - max(matched, default=0), bad_lines=shown_bad, notes=(*reading.notes, *notes))
    failure = matcher.first_failure()
    if rewritten and failure is not None:  # found while walking, before any later damage in the chain
        first_bad, problem, reason = failure
        return VerifyReport(False, first_bad - 1, first_bad, problem, reason, head, status)
    report = checker.finish(head)
    if not report.ok:
        return replace(report, anchor=status)
    if failure is not None:
        first_bad, problem, reason = failure
        return VerifyReport(False, first_bad - 1, first_bad, problem, reason, head, status)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return VerifyReport(False, report.checked, None, ChainProblem.ANCHOR_TAMPERED,
                            f"{ChainProblem.ANCHOR_TAMPERED.value}: {bad[0]}{more}", head, status)
    return replace(report, anchor=status)
