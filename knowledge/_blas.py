"""One BLAS thread for the calling thread, while a single query is embedded.

A query is a dozen tokens: its matrix products are too small to gain from OpenBLAS's threads, and on a loaded
machine the threads' hand-offs and spinning cost more than the products (bench: several times the CPU per query).
OpenBLAS ≥ 0.3.27 sets a thread count for the calling thread only (``openblas_set_num_threads_local``), so a batch
embedding on another thread keeps its threads. Without that symbol (another BLAS), nothing changes.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

__all__ = ["single_blas_thread"]


@cache
def _setter() -> Callable[[int], int] | None:
    import numpy as np

    folder = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for library in sorted(folder.glob("*openblas*")) if folder.is_dir() else []:
        try:
            handle = ctypes.CDLL(str(library))  # already loaded by numpy: the same library, not a second copy
        except OSError:
            continue
        setter = getattr(handle, "openblas_set_num_threads_local", None)
        if setter is not None:
            setter.argtypes = [ctypes.c_int]
            setter.restype = ctypes.c_int
            return setter
    return None


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread on this thread (the previous count is restored afterwards)."""
    setter = _setter()
    if setter is None:
        yield
        return
    previous = setter(1)
    try:
        yield
    finally:
        setter(previous)
