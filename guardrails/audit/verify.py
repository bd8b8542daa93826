"""Checking the audit hash chain: rows fed in seq order with constant memory, then the head row.

Pure values and functions, no database (:class:`guardrails.audit.log.AuditLog` reads the rows). The check
against signed checkpoints kept outside the database is :mod:`guardrails.audit.anchoring`.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from guardrails.audit._fastcheck import accept_run
from guardrails.audit.chain import GENESIS_HASH, canonical_event, canonical_json, chain_hash

__all__ = ["AnchorStatus", "ChainChecker", "ChainHead", "ChainProblem", "CheckedRun", "StoredRow", "VerifyReport"]


@dataclass(frozen=True)
class ChainHead:
    """The chain head: the newest seq and its hash (seq 0 and the genesis hash for an empty log)."""

    seq: int
    """Last seq written."""
    hash: str
    """Hash of that record."""


class ChainProblem(StrEnum):
    """The kinds of damage :meth:`guardrails.audit.log.AuditLog.verify` tells apart."""

    EDITED = "hash mismatch (edited)"
    NOT_CANONICAL = "payload not canonical JSON (edited)"
    RELINKED = "prev_hash mismatch (reordered or inserted)"
    RELINKED_EDITED = "prev_hash and hash mismatch (reordered, inserted or edited)"
    DELETED = "seq gap (deleted)"
    UNEXPECTED_SEQ = "unexpected seq (inserted)"
    TRUNCATED = "head mismatch (truncated)"
    HEAD_BEHIND = "head mismatch (rows added outside the log)"
    HEAD_EDITED = "head mismatch (newest row or head edited)"
    HEAD_MISSING = "head missing"
    TRUNCATED_BEFORE_CHECKPOINT = "chain ends before a signed checkpoint (truncated)"
    CHECKPOINT_MISMATCH = "chain differs from a signed checkpoint (rewritten)"
    ANCHOR_TAMPERED = "anchor line not signed by a trusted key (anchor tampered)"


@dataclass(frozen=True)
class AnchorStatus:
    """What the anchor (signed checkpoints of the head, kept outside the database) says about the chain."""

    configured: bool
    """False when no signing or verify key is set: a truncated tail with a rewritten head row then passes."""
    files: tuple[str, ...] = ()
    """The anchor files read (the configured one first)."""
    key_ids: tuple[str, ...] = ()
    """Ids of the public keys trusted to have signed checkpoints."""
    checkpoints: int = 0
    """Checkpoint lines whose signature verified."""
    matched: int = 0
    """Of those, the ones the chain contains (same seq, same hash)."""
    last_matched_seq: int | None = None
    """The newest seq a signed checkpoint vouches for; None when no checkpoint matched."""
    unanchored: int | None = None
    """Events after ``last_matched_seq`` up to the head: not covered by a checkpoint yet."""
    bad_lines: tuple[str, ...] = ()
    """Lines never trusted (``file:line: why``): a bad signature, an unknown key, not a checkpoint."""
    notes: tuple[str, ...] = ()
    """Warnings that do not fail the check: a missing file, a torn last line, this process's last write error."""


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of checking the whole chain."""

    ok: bool
    """True when every row and the head check out."""
    checked: int
    """Rows that checked out before the first problem (all rows when ok)."""
    first_bad_seq: int | None
    """The first seq that is damaged or missing; None when ok (or only the head row is gone)."""
    problem: ChainProblem | None
    """What kind of damage was found first; None when ok."""
    reason: str | None
    """The problem in words with details; None when ok."""
    head: ChainHead | None
    """The stored head row as read (None if it is missing)."""
    anchor: AnchorStatus | None = None
    """The check against signed checkpoints (None when the caller did not ask for it)."""


class StoredRow(NamedTuple):
    """A row of ``audit_events`` exactly as read, before any parsing (column order of the table)."""

    seq: int
    ts: Any
    trace_id: Any
    thread_id: Any
    user_id: Any
    kind: Any
    payload: Any
    policy_hash: Any
    prev_hash: Any
    hash: Any


@dataclass(frozen=True)
class CheckedRun:
    """Rows up to ``last_seq`` already accepted by the fast check elsewhere (linked, in order); ``last_hash`` is
    the stored hash of that row. The parallel walk hands these to :meth:`ChainChecker.skip_to`."""

    last_seq: int
    last_hash: str


def _recompute(row: StoredRow) -> tuple[str | None, bool]:
    """(hash recomputed from the row's own columns or None if its payload is not JSON, payload canonical?)."""
    try:
        payload_json = canonical_json(json.loads(row.payload))
        canonical = canonical_event(
            seq=row.seq, ts=row.ts, trace_id=row.trace_id, thread_id=row.thread_id,
            user_id=row.user_id, kind=row.kind, payload_json=payload_json, policy_hash=row.policy_hash,
        )
        return chain_hash(str(row.prev_hash), canonical), payload_json == row.payload
    except (TypeError, ValueError):
        return None, False


class ChainChecker:
    """Checks rows fed in seq order with constant memory, then the head; stops at the first problem."""

    def __init__(self) -> None:
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._checked = 0
        self._problem: tuple[int | None, ChainProblem, str] | None = None

    def feed_page(self, rows: Sequence[Sequence[Any]], start: int, watched: Container[int] = ()) -> int:
        """Accept ``rows[start:]`` (stored columns in :class:`StoredRow` order) while each passes the fast check;
        the index of the first row that did not, which the caller then gives to :meth:`feed`.

        The fast check: the row is the next seq, its prev_hash is the previous row's hash, and SHA-256 of
        prev_hash ‖ the canonical event text spliced from its stored strings (the payload's stored text as it is,
        not parsed and re-encoded) is its stored hash. Every row the log wrote passes, since the log stores the
        payload's canonical text and hashed exactly that. A row that does not pass is left to :meth:`feed`, which
        names its problem exactly as a walk without the fast check would; so is a row whose seq is in
        ``watched`` (the caller compares those with signed checkpoints).

        What the fast check does not look at is whether an accepted row's payload text is canonical: a payload
        rewritten to other bytes *and* a hash recomputed over them passes here, where :meth:`feed` names that
        row. Such a row is a forged hash like any re-hashed edit, and is caught the same way: the next row's
        prev_hash (named as relinked), the head row, or a signed checkpoint.
        """
        if self._problem is not None:
            return start
        index, self._expected_seq, self._prev_hash = accept_run(rows, start, self._expected_seq, self._prev_hash,
                                                                watched)
        self._checked += index - start
        return index

    def skip_to(self, run: CheckedRun) -> None:
        """Take the rows up to ``run.last_seq`` as accepted: they passed :meth:`feed_page`'s check elsewhere (the
        parallel walk's workers), linked from this checker's last row on. Nothing once a problem was found."""
        if self._problem is not None:
            return
        if run.last_seq < self._expected_seq - 1:
            raise ValueError(f"cannot skip back to seq {run.last_seq}: seq {self._expected_seq - 1} was checked")
        self._checked += run.last_seq - (self._expected_seq - 1)
        self._expected_seq, self._prev_hash = run.last_seq + 1, run.last_hash

    def feed(self, row: StoredRow) -> bool:
        """Check the next row in full (payload parsed and re-encoded); False once a problem was found (stop
        feeding then)."""
        if self._problem is not None:
            return False
        seq, expected = row.seq, self._expected_seq
        if seq != expected:
            if seq > expected:
                self._fail(expected, ChainProblem.DELETED, f"no row {expected}; the next stored seq is {seq}")
            else:
                self._fail(seq, ChainProblem.UNEXPECTED_SEQ, f"row {seq} where {expected} was expected")
            return False
        computed, canonical = _recompute(row)
        linked = row.prev_hash == self._prev_hash
        intact = computed is not None and computed == row.hash
        if not linked:
            problem = ChainProblem.RELINKED if intact else ChainProblem.RELINKED_EDITED
            previous = f"seq {seq - 1}" if seq > 1 else "the genesis"
            self._fail(seq, problem, f"its prev_hash is not the hash of {previous}")
            return False
        if not intact:
            detail = "payload is not valid JSON" if computed is None else "stored hash != recomputed hash"
            self._fail(seq, ChainProblem.EDITED, detail)
            return False
        if not canonical:
            self._fail(seq, ChainProblem.NOT_CANONICAL, "payload text rewritten (same JSON, other bytes)")
            return False
        self._prev_hash = row.hash
        self._expected_seq += 1
        self._checked += 1
        return True

    @property
    def checked(self) -> int:
        """Rows that checked out so far."""
        return self._checked

    @property
    def failed(self) -> bool:
        """True once a row failed (:meth:`finish` still checks the head otherwise)."""
        return self._problem is not None

    def finish(self, head: ChainHead | None) -> VerifyReport:
        """The report, after checking the stored ``head`` against the last row fed (unless a row failed)."""
        last_seq = self._expected_seq - 1
        if self._problem is None:
            if head is None:
                self._fail(None, ChainProblem.HEAD_MISSING, "the audit_head row is gone")
            elif head.seq > last_seq:
                self._fail(last_seq + 1, ChainProblem.TRUNCATED,
                           f"head says seq {head.seq}, last stored is {last_seq}")
            elif head.seq < last_seq:
                self._fail(head.seq + 1, ChainProblem.HEAD_BEHIND,
                           f"head says seq {head.seq}, rows go up to {last_seq}")
            elif head.hash != self._prev_hash:
                self._fail(head.seq or None, ChainProblem.HEAD_EDITED,
                           f"head hash differs from the hash of seq {head.seq}")
        if self._problem is None:
            return VerifyReport(True, self._checked, None, None, None, head)
        bad_seq, problem, detail = self._problem
        return VerifyReport(False, self._checked, bad_seq, problem, f"{problem.value}: {detail}", head)

    def _fail(self, seq: int | None, problem: ChainProblem, detail: str) -> None:
        self._problem = (seq, problem, detail)
