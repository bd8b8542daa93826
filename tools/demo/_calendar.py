"""The plant's working calendar: two shifts, 06:00-22:00, Monday to Friday.

Work orders, MES states and confirmations all follow it, so nothing is
produced at night or on weekends.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

__all__ = [
    "SHIFT_END",
    "SHIFT_START",
    "add_work_hours",
    "is_workday",
    "next_work_time",
    "prev_work_time",
    "sub_work_hours",
    "week_start",
    "work_hours_between",
    "work_segments",
]

SHIFT_START = time(6, 0)
SHIFT_END = time(22, 0)


def is_workday(day: date) -> bool:
    """True on Monday to Friday."""
    return day.weekday() < 5


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def _start(day: date) -> datetime:
    return datetime.combine(day, SHIFT_START)


def _end(day: date) -> datetime:
    return datetime.combine(day, SHIFT_END)


def next_work_time(moment: datetime) -> datetime:
    """``moment`` if it lies inside working time, else the start of the next working window."""
    day = moment.date()
    if is_workday(day):
        if moment < _start(day):
            return _start(day)
        if moment < _end(day):
            return moment
    day += timedelta(days=1)
    while not is_workday(day):
        day += timedelta(days=1)
    return _start(day)


def prev_work_time(moment: datetime) -> datetime:
    """``moment`` if it lies inside working time, else the end of the previous working window."""
    day = moment.date()
    if is_workday(day):
        if moment > _end(day):
            return _end(day)
        if moment > _start(day):
            return moment
    day -= timedelta(days=1)
    while not is_workday(day):
        day -= timedelta(days=1)
    return _end(day)


def _minutes(hours: float) -> timedelta:
    return timedelta(minutes=round(hours * 60))


def add_work_hours(moment: datetime, hours: float) -> datetime:
    """The moment ``hours`` of working time after ``moment``."""
    current = next_work_time(moment)
    remaining = _minutes(hours)
    while True:
        window = _end(current.date()) - current
        if remaining <= window:
            return current + remaining
        remaining -= window
        current = next_work_time(_end(current.date()))


def sub_work_hours(moment: datetime, hours: float) -> datetime:
    """The moment ``hours`` of working time before ``moment``."""
    current = prev_work_time(moment)
    remaining = _minutes(hours)
    while True:
        window = current - _start(current.date())
        if remaining <= window:
            return current - remaining
        remaining -= window
        current = prev_work_time(_start(current.date()))


def work_segments(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The working-time pieces of ``[start, end)``, one per day at most."""
    pieces: list[tuple[datetime, datetime]] = []
    day = start.date()
    while datetime.combine(day, time(0)) < end:
        if is_workday(day):
            lo = max(start, _start(day))
            hi = min(end, _end(day))
            if hi > lo:
                pieces.append((lo, hi))
        day += timedelta(days=1)
    return pieces


def work_hours_between(start: datetime, end: datetime) -> float:
    """Working hours inside ``[start, end)``."""
    return sum((hi - lo).total_seconds() for lo, hi in work_segments(start, end)) / 3600.0
