"""Audit timestamps: UTC, ISO 8601 with microseconds, as stored (text, so hashing is exact)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from guardrails.errors import AuditError

__all__ = ["UtcStamps", "format_ts", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class UtcStamps:
    """The current UTC time formatted as :func:`format_ts` would, without building a datetime per call.

    The date-and-seconds part is formatted once per second; only the microseconds change in between.
    Thread-safe: the cached (second, prefix) pair is swapped as one tuple.
    """

    def __init__(self) -> None:
        self._cached: tuple[int, str] = (-1, "")

    def __call__(self) -> str:
        second, micros = divmod(time.time_ns() // 1000, 1_000_000)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")[:19]  # YYYY-MM-DDTHH:MM:SS
            self._cached = (second, prefix)
        return f"{prefix}.{micros:06d}+00:00"


def format_ts(moment: datetime) -> str:
    """``moment`` as stored: UTC, ISO 8601, microseconds (``2026-03-02T06:00:00.000000+00:00``).

    Naive datetimes are refused (the log cannot guess their zone).
    """
    if moment.tzinfo is UTC:  # the default clock's: already UTC, nothing to convert
        return moment.isoformat(timespec="microseconds")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AuditError(f"audit timestamps need a timezone-aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
