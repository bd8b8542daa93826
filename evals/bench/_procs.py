"""CPU time and resident memory of a server's processes, read from ``/proc`` (Linux).

The chat benchmark measures the server it started from outside: the CPU its processes spent (``utime`` +
``stime`` of the process and of every descendant, each read directly — a child's time reaches its parent's
``cutime`` only once it has been waited for) and each worker's resident set. Where ``/proc`` is missing the
readings are ``None`` and the figures built on them are null with that reason.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessTree", "TreeSample", "available", "stop"]

_PROC = Path("/proc")


def available() -> bool:
    """True when this system has a readable ``/proc`` with per-process ``stat``."""
    return (_PROC / str(os.getpid()) / "stat").is_file()


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (whose parentheses may hold spaces)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _cpu_s(pid: int) -> float | None:
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # fields[0] is the state (the stat file's 3rd field): utime and stime are its 14th and 15th.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float | None:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


@dataclass(frozen=True)
class TreeSample:
    """One reading of a process tree."""

    cpu_s: float
    """utime + stime of the root and every live descendant, in seconds."""
    worker_rss_mib: tuple[float, ...]
    """Resident set of each worker (the root itself when it serves alone), by pid."""


@dataclass(frozen=True)
class ProcessTree:
    """A server started as ``root``: alone, or a supervisor whose spawned children are the workers."""

    root: int

    def pids(self) -> list[int]:
        """The root and its descendants alive now."""
        seen, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo.extend(_children(pid))
        return seen

    def workers(self) -> list[int]:
        """The processes serving requests: uvicorn's spawned workers, or the root when it has none."""
        spawned = [p for p in _children(self.root) if "spawn_main" in _cmdline(p)]
        return spawned or [self.root]

    def sample(self) -> TreeSample:
        """CPU of the whole tree and each worker's RSS, now."""
        cpu = sum(c for c in (_cpu_s(p) for p in self.pids()) if c is not None)
        rss = tuple(r for r in (_rss_mib(p) for p in self.workers()) if r is not None)
        return TreeSample(cpu_s=cpu, worker_rss_mib=rss)


def stop(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Terminate ``process`` and wait for it; kill it if it has not exited after ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
