"""The verify walk's fast per-row check, standard library only: also the worker process of the parallel walk.

Kept free of the package's imports (and of anything outside the standard library) so that
``python -I -S _fastcheck.py`` starts in a few tens of milliseconds: :mod:`guardrails.audit._parallel` runs it
that way, sends it seq ranges of the SQLite file and gets back how far each range passed the check.

The worker protocol, :mod:`marshal` values over stdin/stdout one at a time (marshal needs no import): first
``{"database": path, "watched": seqs}``, then ``(lo, hi)`` per range, answered by ``("ok", RangeResult)`` or
``("error", text)``; EOF ends it.
"""

from __future__ import annotations

import gc
import marshal
import sqlite3
import sys

# What the worker imports is what it waits for before its first range: the C modules directly where they exist.
try:
    from _hashlib import openssl_sha256 as sha256
except ImportError:  # pragma: no cover - a Python built without OpenSSL
    from hashlib import sha256
try:
    from _json import encode_basestring
except ImportError:  # pragma: no cover - a Python without the json accelerator
    from json.encoder import encode_basestring

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Sequence
    from typing import Any, BinaryIO

__all__ = ["RANGE_SQL", "RangeResult", "accept_run", "check_range"]

RANGE_SQL = ("SELECT seq, ts, trace_id, thread_id, user_id, kind, payload, policy_hash, prev_hash, hash "
             "FROM audit_events WHERE seq >= ? AND seq <= ? ORDER BY seq")
"""One range of rows in seq order, columns in ``StoredRow`` order (qmark style: the ``sqlite3`` driver)."""


RangeResult = tuple[int, "Any", "Any", list[tuple["Any", ...]]]
"""How far one seq range passed the fast check, read in one statement: (rows from the range's first seq on that
passed, links inside the range included; the stored prev_hash of its first row or None when the range is empty;
the stored hash of the last accepted row or None; the accepted rows whose seq was asked for: checkpointed seqs,
which the caller checks in full)."""


def accept_run(rows: Sequence[Sequence[Any]], start: int, expected: int, prev: Any,
               watched: Container[int] = ()) -> tuple[int, int, Any]:
    """Accept ``rows[start:]`` (stored columns in ``StoredRow`` order) while each passes the fast check:
    (index of the first row that did not, the seq expected next, the hash of the last accepted row or ``prev``).

    The check: the row is seq ``expected``, its prev_hash is ``prev`` (then the previous row's hash), its seq is
    not in ``watched``, and SHA-256 of prev_hash ‖ the canonical event text spliced from its stored strings (the
    payload's stored text as it is) is its stored hash. See ``ChainChecker.feed_page`` for what that covers.
    """
    new_hash = sha256().copy  # copying a fresh hasher skips OpenSSL's per-call digest lookup
    quote = encode_basestring
    index, end = start, len(rows)
    try:
        while index < end:
            seq, ts, trace_id, thread_id, user_id, kind, payload, policy_hash, prev_hash, digest = rows[index]
            if seq != expected or prev_hash != prev or seq in watched:
                break
            hasher = new_hash()
            hasher.update(
                f'{prev_hash}{{"kind":{quote(kind)},"payload":{payload},"policy_hash":{quote(policy_hash)},'
                f'"seq":{seq},"thread_id":{"null" if thread_id is None else quote(thread_id)},'
                f'"trace_id":{quote(trace_id)},"ts":{quote(ts)},"user_id":{quote(user_id)}}}'.encode())
            if hasher.hexdigest() != digest:
                break
            prev = digest
            expected += 1
            index += 1
    except (TypeError, ValueError):  # a column that is not text (or not encodable): not accepted here
        pass
    return index, expected, prev


def check_range(cursor: Any, lo: int, hi: int, watched: Container[int] = ()) -> RangeResult:
    """Read seqs ``lo..hi`` through the ``sqlite3`` ``cursor`` and check them with :func:`accept_run`, the first
    row's link taken as stored (the caller compares it with the previous range's last hash)."""
    rows = cursor.execute(RANGE_SQL, (lo, hi)).fetchall()
    if not rows:
        return 0, None, None, []
    first_prev = rows[0][8]
    accepted, _, last_hash = accept_run(rows, 0, lo, first_prev)
    kept = [tuple(row) for row in rows[:accepted] if row[0] in watched]
    return accepted, first_prev, last_hash if accepted else None, kept


def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The worker loop: open the database read-only, answer ranges until EOF."""
    gc.disable()  # a short-lived process making millions of tuples: collections would only cost time
    try:
        setup = marshal.load(stdin)
        watched = frozenset(setup["watched"])
        path = setup["database"].replace("%", "%25").replace("?", "%3f").replace("#", "%23")
        uri = f"file:{path}?mode=ro"
        cursor = sqlite3.connect(uri, uri=True).cursor()
    except EOFError:
        return
    except Exception as exc:  # answered to the first range: the parent then checks the ranges itself
        cursor, failure = None, f"could not open the database: {exc!r}"
    while True:
        try:
            lo, hi = marshal.load(stdin)
        except EOFError:
            return
        if cursor is None:
            answer: tuple[str, Any] = ("error", failure)
        else:
            try:
                answer = ("ok", check_range(cursor, lo, hi, watched))
            except Exception as exc:
                answer = ("error", repr(exc))
        marshal.dump(answer, stdout)
        stdout.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
