"""One writing process per embedded knowledge store: an exclusive advisory lock on a file in its folder.

Embedded Chroma (a ``PersistentClient`` on ``JIDOKA_HOME/knowledge``) keeps the store's state in the process that
opened it: a second process writing to the same folder (an ingest while a server runs) leaves the first one's view
stale or broken — the server's searches failed until it was restarted. So ``jidoka serve`` on embedded Chroma holds
the :class:`WriterLock` for its lifetime and an ingest holds it while it writes; whoever comes second fails at once
with :class:`~knowledge.errors.StoreInUse`, which names the holder's pid. Reading processes (``ask``, ``knowledge
search``, ``eval``) take no lock. A Chroma server (``JIDOKA_CHROMA_URL``) serves every process and needs none.

The lock is ``fcntl.flock`` on :data:`LOCK_FILE`: the kernel drops it when its holder exits, however it exits, so
a crashed server never leaves the store locked. The file holds the holder's pid and role, for the message.

The lock keeps *other processes* out. The process holding it may write: :func:`writing` takes the lock for a write
unless this process already holds it (a server publishing an approved document into the store it serves).
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Literal

from knowledge.errors import StoreInUse, StoreUnavailable

__all__ = ["LOCK_FILE", "Role", "WriterLock", "held_here", "writing"]

LOCK_FILE = ".jidoka-writer.lock"
"""The lock file's name inside the embedded store's folder."""

Role = Literal["serve", "ingest"]
"""Why a process writes: it serves (for its lifetime) or ingests (for the ingest)."""

_WANTED: dict[str, str] = {"serve": "serve", "ingest": "ingest"}
_HELD: dict[Path, int] = {}
"""Directories whose lock this process holds, with how many :class:`WriterLock` objects hold it."""
_HELD_GUARD = threading.Lock()


def _key(directory: Path) -> Path:
    return directory.expanduser().resolve()


def held_here(directory: Path) -> bool:
    """True when this process holds the writer lock of the store under ``directory``."""
    with _HELD_GUARD:
        return _HELD.get(_key(directory), 0) > 0


def writing(directory: Path | None) -> AbstractContextManager[object]:
    """The writer lock for one write to the embedded store under ``directory``: taken now (raising
    :class:`StoreInUse` when another process holds it), or nothing to take when this process holds it already
    or the store is a Chroma server (``directory`` is ``None``)."""
    if directory is None or held_here(directory):
        return nullcontext()
    return WriterLock(directory, "ingest")


class WriterLock:
    """The exclusive writer lock of the embedded store under ``directory``, taken without waiting."""

    def __init__(self, directory: Path, role: Role) -> None:
        self.directory = directory
        self.role: Role = role
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        """The lock file."""
        return self.directory / LOCK_FILE

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> WriterLock:
        """Take the lock now or raise :class:`StoreInUse` naming its holder (a no-op when already held)."""
        if self._fd is not None:
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreUnavailable(f"cannot lock the knowledge base under {self.directory}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, holder = _holder(fd)
            os.close(fd)
            raise StoreInUse(str(self.directory), pid, holder, _WANTED[self.role]) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.role}\n".encode(), 0)
        self._fd = fd
        with _HELD_GUARD:
            key = _key(self.directory)
            _HELD[key] = _HELD.get(key, 0) + 1
        return self

    def release(self) -> None:
        """Let the lock go (a no-op when not held); the file stays, empty."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with _HELD_GUARD:
            key = _key(self.directory)
            count = _HELD.pop(key, 0) - 1
            if count > 0:
                _HELD[key] = count
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def _holder(fd: int) -> tuple[int | None, str]:
    """The pid and role the holder wrote (``None`` and ``""`` when it has not written them yet)."""
    try:
        words = os.pread(fd, 64, 0).decode("ascii", "replace").split()
    except OSError:
        return None, ""
    pid = int(words[0]) if words and words[0].isdigit() else None
    return pid, words[1] if len(words) > 1 else ""
