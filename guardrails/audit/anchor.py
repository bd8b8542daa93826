"""Signed checkpoints of the audit chain's head, kept in an append-only file outside the database.

The hash chain finds any edit, insert or gap, and the head row finds a deleted tail — unless whoever
deletes the tail also rewrites the head row. A checkpoint pins the head where the database's writers
cannot reach it: ``{v, seq, hash, ts, key_id}`` signed with an Ed25519 key the database never sees. The
signed bytes are ``b"jidoka-audit-checkpoint\\n"`` followed by :func:`~guardrails.audit.chain.canonical_json`
of those five fields; a file line is the canonical JSON of the same fields plus ``sig`` (base64). Anyone
with the public key can re-check a line with any Ed25519 library.

This module holds the keys, the line format, the signer and the file; when checkpoints are written and how
verify uses them is :mod:`guardrails.audit.anchoring`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from guardrails.audit.chain import canonical_json
from guardrails.audit.verify import ChainHead
from guardrails.errors import AuditAnchorError, AuditKeyInvalid

try:  # advisory file locks: POSIX only; elsewhere O_APPEND alone keeps the lines apart
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CHECKPOINT_VERSION",
    "AnchorReading",
    "Checkpoint",
    "CheckpointSigner",
    "Located",
    "TrustedKeys",
    "append_checkpoint",
    "generate_signing_key",
    "key_id",
    "parse_signing_key",
    "parse_verify_key",
    "public_key_text",
    "read_anchor_files",
]

CHECKPOINT_VERSION = 1
"""The ``v`` of the line format written here."""

_DOMAIN = b"jidoka-audit-checkpoint\n"
_FIELDS = frozenset({"v", "seq", "hash", "ts", "key_id", "sig"})
_HEX = frozenset("0123456789abcdef")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)


def generate_signing_key() -> str:
    """A new Ed25519 private key as base64 of its 32 raw bytes (the form ``JIDOKA_AUDIT_SIGNING_KEY`` takes)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return _b64(raw)


def _parse_key(text: str, variable: str, kind: str, load_pem: Callable[[bytes], Any],
               from_raw: Callable[[bytes], Any], key_type: type[Any], hint: str) -> Any:
    """A key of ``key_type`` from base64 of its 32 raw bytes or a PEM; :class:`AuditKeyInvalid` never shows it."""
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = load_pem(stripped.encode("ascii"))
            if not isinstance(key, key_type):
                raise AuditKeyInvalid(variable, "the PEM holds a key of another kind; an Ed25519 key is needed")
            return key
        raw = _unb64(stripped)
        if len(raw) != 32:
            raise AuditKeyInvalid(variable, f"base64 of 32 bytes expected, got {len(raw)} bytes")
        return from_raw(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        if isinstance(exc, AuditKeyInvalid):
            raise
        raise AuditKeyInvalid(variable, f"not an Ed25519 {kind} key (base64 of 32 bytes, or a PEM){hint}") from None


def parse_signing_key(text: str, variable: str = "JIDOKA_AUDIT_SIGNING_KEY") -> Ed25519PrivateKey:
    """An Ed25519 private key from base64 of its 32 raw bytes or an unencrypted PKCS#8 PEM.

    Raises :class:`AuditKeyInvalid` naming ``variable``; the message never contains the key.
    """
    key: Ed25519PrivateKey = _parse_key(
        text, variable, "private", lambda pem: serialization.load_pem_private_key(pem, password=None),
        Ed25519PrivateKey.from_private_bytes, Ed25519PrivateKey, "; `jidoka audit keygen` makes one")
    return key


def parse_verify_key(text: str, variable: str = "JIDOKA_AUDIT_VERIFY_KEY") -> Ed25519PublicKey:
    """An Ed25519 public key from base64 of its 32 raw bytes or a PEM (``SubjectPublicKeyInfo``)."""
    key: Ed25519PublicKey = _parse_key(text, variable, "public", serialization.load_pem_public_key,
                                       Ed25519PublicKey.from_public_bytes, Ed25519PublicKey, "")
    return key


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (the form ``JIDOKA_AUDIT_VERIFY_KEY`` takes)."""
    return _b64(_raw_public(key))


def key_id(key: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def _signed_bytes(seq: int, hash_: str, ts: str, kid: str) -> bytes:
    body = {"v": CHECKPOINT_VERSION, "seq": seq, "hash": hash_, "ts": ts, "key_id": kid}
    return _DOMAIN + canonical_json(body).encode("utf-8")


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement "the chain's head was (seq, hash) at ts", as a line of an anchor file."""

    seq: int
    """The head's seq when signed."""
    hash: str
    """The hash of that record (the genesis hash at seq 0)."""
    ts: str
    """When it was signed (UTC ISO 8601 with microseconds, the signer's clock)."""
    key_id: str
    """Which key signed it (:func:`key_id`)."""
    signature: str
    """Ed25519 signature of the signed bytes, base64."""

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers."""
        return _signed_bytes(self.seq, self.hash, self.ts, self.key_id)

    def to_line(self) -> str:
        """The anchor-file line, newline included."""
        return canonical_json({"v": CHECKPOINT_VERSION, "seq": self.seq, "hash": self.hash, "ts": self.ts,
                               "key_id": self.key_id, "sig": self.signature}) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Checkpoint:
        """Parse a line (signature not checked); raises ``ValueError`` saying what is wrong."""
        try:
            data: Any = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict) or set(data) != _FIELDS:
            raise ValueError("not a checkpoint (torn by a crash, or edited)")
        seq, hash_, ts, kid, sig = data["seq"], data["hash"], data["ts"], data["key_id"], data["sig"]
        if type(data["v"]) is not int or data["v"] != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {data['v']!r}, this jidoka reads {CHECKPOINT_VERSION}")
        if type(seq) is not int or seq < 0 or not isinstance(hash_, str) or len(hash_) != 64 \
                or not set(hash_) <= _HEX or not all(isinstance(v, str) for v in (ts, kid, sig)):
            raise ValueError("not a checkpoint (a field has the wrong type)")
        return cls(seq=seq, hash=hash_, ts=ts, key_id=kid, signature=sig)


def _utc_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class CheckpointSigner:
    """Signs checkpoints with the anchor's private key (kept in memory only, never printed)."""

    def __init__(self, key: Ed25519PrivateKey, *, clock: Callable[[], str] | None = None) -> None:
        """Sign with ``key``; ``clock`` gives the stamp (default: UTC now, as the audit log formats it)."""
        self._key = key
        self._clock = clock or _utc_stamp
        self.public_key: Ed25519PublicKey = key.public_key()
        """The key that checks this signer's checkpoints."""
        self.key_id: str = key_id(self.public_key)
        """Its short name."""

    def __repr__(self) -> str:
        return f"CheckpointSigner(key_id={self.key_id!r})"

    def sign(self, head: ChainHead) -> Checkpoint:
        """A checkpoint of ``head``, stamped now."""
        ts = self._clock()
        signature = self._key.sign(_signed_bytes(head.seq, head.hash, ts, self.key_id))
        return Checkpoint(seq=head.seq, hash=head.hash, ts=ts, key_id=self.key_id, signature=_b64(signature))


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys whose checkpoints verify trusts, by key id."""

    keys: Mapping[str, Ed25519PublicKey]
    """Key id -> public key."""

    @classmethod
    def of(cls, keys: Iterable[Ed25519PublicKey]) -> TrustedKeys:
        """Trust ``keys``."""
        return cls({key_id(k): k for k in keys})

    def problem(self, checkpoint: Checkpoint) -> str | None:
        """Why ``checkpoint`` cannot be trusted, or None when a trusted key signed exactly these fields."""
        key = self.keys.get(checkpoint.key_id)
        if key is None:
            return f"signed by a key that is not trusted (key id {checkpoint.key_id!r})"
        try:
            key.verify(_unb64(checkpoint.signature), checkpoint.signed_bytes())
        except (InvalidSignature, ValueError, binascii.Error):
            return "signature does not verify (the line was edited or forged)"
        return None


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append ``checkpoint`` as one line to ``path`` (created with its folder if missing), durably.

    ``O_APPEND`` and an exclusive ``flock`` keep lines of several processes whole; a line torn by a
    crash is closed with a newline first, so the next line stays readable. Raises :class:`AuditAnchorError`.
    """
    data = checkpoint.to_line().encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock
    except OSError as exc:
        raise AuditAnchorError(f"cannot append a checkpoint to the anchor file {path}: "
                               f"{exc.strerror or exc}") from exc


Located = tuple[Checkpoint, str]
"""A checkpoint and where it was read (``file:line``)."""


@dataclass(frozen=True)
class AnchorReading:
    """The checkpoints of one or more anchor files, split into trusted ones and lines never trusted."""

    files: tuple[str, ...]
    """The files read (missing ones included; see :attr:`notes`)."""
    checkpoints: tuple[Located, ...]
    """Lines signed by a trusted key, in file order."""
    bad_lines: tuple[str, ...]
    """``file:line: why`` for each line that is not a checkpoint a trusted key signed."""
    notes: tuple[str, ...]
    """Warnings: a file that does not exist (yet), a torn last line."""


def read_anchor_files(paths: Iterable[Path], trusted: TrustedKeys) -> AnchorReading:
    """Read every line of ``paths`` and check its signature; raises :class:`AuditAnchorError` if one is unreadable.

    A missing file is a note (nothing was anchored yet, or the file was deleted: verify cannot tell). An
    unfinished last line (no newline: a crash while writing) is a note too; any other line that is not a
    checkpoint signed by a trusted key is a bad line.
    """
    files: list[str] = []
    good: list[Located] = []
    bad: list[str] = []
    notes: list[str] = []
    for path in dict.fromkeys(paths):  # the same file named twice is read once
        files.append(str(path))
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            notes.append(f"{path}: no anchor file (nothing anchored yet, or it was deleted)")
            continue
        except OSError as exc:
            raise AuditAnchorError(f"cannot read the anchor file {path}: {exc.strerror or exc}") from exc
        lines = text.split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            last = number == len(lines)  # only text after the final newline: never finished
            try:
                checkpoint = Checkpoint.from_line(line)
            except ValueError as exc:
                if last:
                    notes.append(f"{where}: unfinished last line ignored (a crash while writing?)")
                else:
                    bad.append(f"{where}: {exc}")
                continue
            problem = trusted.problem(checkpoint)
            if problem is None:
                good.append((checkpoint, where))
            else:
                bad.append(f"{where}: {problem}")
    return AnchorReading(tuple(files), tuple(good), tuple(bad), tuple(notes))
