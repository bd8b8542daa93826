"""Data keys of the sealed audit payloads: one per month, event kind and site, wrapped by a key-encryption key.

Sealed payload fields (:mod:`guardrails.audit.sealing`) are encrypted with AES-256-GCM under a data key that
belongs to one calendar month (UTC), one event kind and one site (``*`` for events of users with several sites or
none). The data keys live in the state database's ``audit_keys`` table, each wrapped (AES-256-GCM again) by a
key-encryption key that never enters the database: :class:`LocalKek` reads it from ``JIDOKA_AUDIT_KEK`` or a file
beside the databases, and a KMS can take its place by implementing :class:`KeyWrapper`. Destroying a data key
(retention, :mod:`guardrails.audit.retention`) makes every payload sealed under it unreadable for good, while the
stored ciphertext — which the hash chain covers — stays, so the chain still verifies.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Engine, Integer, String, Table, Text, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from guardrails.audit._store import audit_metadata
from guardrails.errors import AuditError

__all__ = ["KEK_FILE", "AuditKeys", "KeyRow", "KeyWrapper", "LocalKek", "audit_keys", "key_id_for"]

KEK_FILE = "audit.kek"
"""The key-encryption key's file name under ``JIDOKA_HOME`` (``jidoka init`` writes it, mode 0600)."""

audit_keys = Table(
    "audit_keys", audit_metadata,
    Column("key_id", String(160), primary_key=True, comment="month/kind/site, e.g. 2026-03/prompt/P100"),
    Column("month", String(7), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("site", String(40), nullable=False),
    Column("wrapped", Text, nullable=True, comment="base64 of nonce + AES-GCM(KEK, data key); NULL once destroyed"),
    Column("created_at", String(40), nullable=False),
    Column("destroyed_at", String(40), nullable=True),
    Column("destroyed_by", String(200), nullable=True),
    Column("first_seq", Integer, nullable=True, comment="first audit seq sealed under it (filled when destroyed)"),
    Column("last_seq", Integer, nullable=True),
    Column("events", Integer, nullable=True),
)


def key_id_for(month: str, kind: str, site: str) -> str:
    """The data key id of ``kind`` events of ``site`` in ``month`` (``YYYY-MM``)."""
    return f"{month}/{kind}/{site}"


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys (a local key-encryption key, or a KMS)."""

    def wrap(self, key_id: str, data_key: bytes) -> bytes:
        """``data_key`` encrypted for storage, bound to ``key_id``."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """The data key; :class:`AuditError` when ``wrapped`` was not made by this wrapper for ``key_id``."""
        ...


class LocalKek:
    """A 256-bit key-encryption key held by this process (from ``JIDOKA_AUDIT_KEK`` or the KEK file)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise AuditError(f"the audit key-encryption key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def parse(cls, text: str, *, source: str) -> LocalKek:
        """A KEK from its base64 text; :class:`AuditError` naming ``source`` when it is not 32 bytes of base64."""
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except (binascii.Error, ValueError, AuditError):
            raise AuditError(f"{source} must hold 32 random bytes in base64 (`jidoka audit keygen --kek` makes "
                             "one)") from None

    @classmethod
    def create_file(cls, path: Path) -> LocalKek:
        """Write a new random KEK to ``path`` (mode 0600) unless one is there; the KEK in the file."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
        return cls.parse(path.read_text(encoding="ascii"), source=str(path))

    def wrap(self, key_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, key_id.encode("utf-8"))

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], key_id.encode("utf-8"))
        except (InvalidTag, ValueError):
            raise AuditError(f"audit data key {key_id!r} cannot be unwrapped with this key-encryption key "
                             "(JIDOKA_AUDIT_KEK or the KEK file changed?)") from None


@dataclass(frozen=True)
class KeyRow:
    """One data key's row, without its key material."""

    key_id: str
    month: str
    kind: str
    site: str
    created_at: str
    destroyed_at: str | None
    destroyed_by: str | None
    first_seq: int | None
    last_seq: int | None
    events: int | None


class AuditKeys:
    """The ``audit_keys`` table: data keys made on first use, cached unwrapped in this process, destroyed on
    purge. Safe for several processes: a key two of them make at once is stored once and both use that one."""

    def __init__(self, engine: Engine, wrapper: KeyWrapper | None) -> None:
        """``wrapper`` unwraps and wraps the data keys; without it keys can be listed and destroyed only."""
        self._engine = engine
        self._wrapper = wrapper
        self._cache: dict[str, bytes] = {}
        """Keys this process seals under (a month's key is never destroyed while that month can still be
        stamped: retention keeps at least the current month)."""
        self._unwrapped: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def key_for(self, key_id: str, *, month: str, kind: str, site: str, now: str) -> bytes:
        """The data key ``key_id``, made and stored first if there is none; :class:`AuditError` if it was destroyed
        (an event of a purged month cannot be sealed again)."""
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        with self._lock:
            found = self._read(key_id)
            if found is None:
                fresh = AESGCM.generate_key(bit_length=256)
                row = {"key_id": key_id, "month": month, "kind": kind, "site": site, "created_at": now,
                       "wrapped": base64.b64encode(self._needed().wrap(key_id, fresh)).decode("ascii")}
                try:
                    with self._engine.begin() as conn:
                        conn.execute(audit_keys.insert().values(**row))
                except IntegrityError:
                    pass  # another process made it first: use theirs
                except SQLAlchemyError as exc:
                    raise AuditError(f"could not store audit data key {key_id!r}: {exc}") from exc
                found = self._read(key_id)
            if found is None or found[0] is None:
                raise AuditError(f"audit data key {key_id!r} was destroyed by retention; nothing more can be "
                                 "sealed under it")
            key = self._needed().unwrap(key_id, base64.b64decode(found[0]))
            self._cache[key_id] = key
            return key

    def existing(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        """The data keys among ``key_ids`` that exist and were not destroyed (for reading sealed fields).

        Read from the table on every call, never from this process's cache, so a key another process destroyed
        reads as gone at once; only the unwrapping is cached.
        """
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(select(audit_keys.c.key_id, audit_keys.c.wrapped)
                                    .where(audit_keys.c.key_id.in_(wanted))).all()
        except SQLAlchemyError as exc:
            raise AuditError(f"could not read the audit data keys: {exc}") from exc
        found: dict[str, bytes] = {}
        for key_id, wrapped in rows:
            if wrapped is None:
                continue
            key = self._unwrapped.get((key_id, wrapped))
            if key is None:
                key = self._needed().unwrap(key_id, base64.b64decode(wrapped))
                self._unwrapped[(key_id, wrapped)] = key
            found[key_id] = key
        return found

    def rows(self) -> list[KeyRow]:
        """Every data key's row, oldest month first."""
        columns = [c for c in audit_keys.c if c.name != "wrapped"]
        try:
            with self._engine.connect() as conn:
                got = conn.execute(select(*columns).order_by(audit_keys.c.month, audit_keys.c.key_id)).all()
        except SQLAlchemyError as exc:
            raise AuditError(f"could not read the audit keys: {exc}") from exc
        return [KeyRow(*row) for row in got]

    def destroy(self, key_id: str, *, at: str, by: str, first_seq: int | None, last_seq: int | None,
                events: int) -> bool:
        """Destroy ``key_id`` (its wrapped key set to NULL); False when it was already destroyed or is unknown."""
        stmt = (update(audit_keys).where(audit_keys.c.key_id == key_id, audit_keys.c.wrapped.is_not(None))
                .values(wrapped=None, destroyed_at=at, destroyed_by=by, first_seq=first_seq, last_seq=last_seq,
                        events=events))
        try:
            with self._engine.begin() as conn:
                changed = conn.execute(stmt).rowcount
        except SQLAlchemyError as exc:
            raise AuditError(f"could not destroy audit data key {key_id!r}: {exc}") from exc
        with self._lock:
            self._cache.pop(key_id, None)
        return bool(changed)

    def destroyed(self) -> list[KeyRow]:
        """The destroyed keys' rows (what retention made unreadable), oldest month first; none without the table."""
        try:
            return [row for row in self.rows() if row.destroyed_at is not None]
        except AuditError:
            return []

    def _needed(self) -> KeyWrapper:
        if self._wrapper is None:
            raise AuditError("the audit key-encryption key is not configured (JIDOKA_AUDIT_KEK or the audit.kek "
                             "file under JIDOKA_HOME)")
        return self._wrapper

    def _read(self, key_id: str) -> tuple[str | None] | None:
        try:
            with self._engine.connect() as conn:
                row = conn.execute(select(audit_keys.c.wrapped).where(audit_keys.c.key_id == key_id)).first()
        except SQLAlchemyError as exc:
            raise AuditError(f"could not read audit data key {key_id!r}: {exc}") from exc
        return None if row is None else (row[0],)
