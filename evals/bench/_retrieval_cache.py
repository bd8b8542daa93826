"""The bench's large synthetic indexes, built once and kept in a cache folder; the process's resident memory.

Building the 100,000-chunk index takes minutes (Chroma's HNSW inserts and SQLite writes), so a built index is kept
under ``JIDOKA_BENCH_CACHE`` (default ``$XDG_CACHE_HOME/jidoka/bench``, else ``~/.cache/jidoka/bench``), keyed
by what it is made of (chunk count, the corpus, the corpus vectors, the Chroma version), and copied into the run's
scratch folder (a search never writes into the cache). The time of the build that made it is recorded with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CachedIndex", "cache_root", "cached_index", "rss_mb"]

_MARKER = "built.json"


@dataclass(frozen=True)
class CachedIndex:
    """An index folder in the scratch folder, and how it came to be."""

    path: Path
    build_s: float
    """Wall-clock seconds of the build that made it (now, or when it was cached)."""
    cached: bool
    load_s: float
    """Seconds to copy it from the cache (0 when built now)."""


def cache_root() -> Path:
    """Where built indexes are kept between bench runs."""
    explicit = os.environ.get("JIDOKA_BENCH_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "jidoka" / "bench"


def _key(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_index(target: Path, name: str, parts: Any, build: Callable[[Path], None]) -> CachedIndex:
    """``target`` holds index ``name``: copied from the cache when one with the same ``parts`` was built before,
    else built by ``build`` into the cache first (under a temporary name, renamed once complete)."""
    folder = cache_root() / f"{name}-{_key(parts)}"
    marker = folder / _MARKER
    cached = marker.is_file()
    if not cached:
        building = folder.with_name(f".{folder.name}.{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        started = time.perf_counter()
        build(building)
        (building / _MARKER).write_text(json.dumps({"build_s": time.perf_counter() - started}), encoding="utf-8")
        if folder.exists():  # another run finished the same build meanwhile: keep one
            shutil.rmtree(building, ignore_errors=True)
        else:
            building.rename(folder)
    started = time.perf_counter()
    shutil.copytree(folder, target)
    load_s = time.perf_counter() - started
    build_s = float(json.loads(marker.read_text(encoding="utf-8"))["build_s"])
    return CachedIndex(target, build_s, cached, load_s if cached else 0.0)


def rss_mb() -> float | None:
    """The process's resident set size now, in MB (``None`` where ``/proc`` is missing)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
