"""Periods and dates in a question, resolved relative to the plant's 'today'.

Weeks run Monday to Sunday. "last week" and "last month" are the previous
calendar week/month; "the last week", "past week" and "last 7 days" are the
seven days ending today. "since Monday" on a Monday means the Monday before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["Period", "bare_span", "earlier_period", "find_period", "future_days", "past_args"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_MONTH = (r"(january|february|march|april|may|june|july|august|september|october|november|december|"
          r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b\.?")
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_UNIT = r"(day|days|week|weeks|month|months|fortnight|fortnights|hours|hour)"


@dataclass(frozen=True)
class Period:
    """A span of days named in a question (both ends inclusive)."""

    start: date
    end: date
    rolling_days: int | None = None
    """Set for 'last N days' style periods ending today: the tools' ``days`` argument."""
    text: str = ""
    """The words that named the period."""
    calendar: bool = False
    """A calendar week or month ('this week', 'next month'), as opposed to a count of days from today."""

    @property
    def days(self) -> int:
        """Number of days in the period."""
        return (self.end - self.start).days + 1


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _month_end(day: date) -> date:
    nxt = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _unit_days(unit: str, count: int) -> int:
    unit = unit.rstrip("s")
    return count * {"day": 1, "week": 7, "fortnight": 14, "month": 30, "hour": 1}[unit] if unit != "hour" else 1


def _explicit(text: str, today: date) -> date | None:
    """An explicit date: ISO, 'feb 20', '20 feb', 'february 20th'. The year defaults to the nearest one."""
    iso = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", text)
    try:
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        m = re.fullmatch(_MONTH + r"\s+" + _DAY, text) or None
        if m:
            month, day = m.group(1), int(m.group(2))
        else:
            m2 = re.fullmatch(_DAY + r"\s+(?:of\s+)?" + _MONTH, text)
            if not m2:
                return None
            month, day = m2.group(2), int(m2.group(1))
        index = next(i for i, name in enumerate(MONTHS) if name.startswith(month[:3])) + 1
        candidates = [date(today.year + dy, index, day) for dy in (-1, 0, 1)]
    except (ValueError, StopIteration):
        return None
    return min(candidates, key=lambda d: (abs((d - today).days), d))


_DATE = r"(\d{4}[-/]\d{1,2}[-/]\d{1,2}|" + _MONTH + r"\s+" + _DAY + r"|" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r")"


_DATE_GROUPS = re.compile(_DATE).groups


def _weekday_before(today: date, name: str, *, strictly: bool) -> date:
    target = WEEKDAYS.index(name)
    back = (today.weekday() - target) % 7
    if back == 0 and strictly:
        back = 7
    return today - timedelta(days=back)


def _weekday_after(today: date, name: str) -> date:
    ahead = (WEEKDAYS.index(name) - today.weekday()) % 7
    return today + timedelta(days=ahead or 7)


Rule = tuple[str, Callable[[re.Match[str], date], "Period | None"]]


def _num(token: str, numbers: Mapping[str, int]) -> int | None:
    if token.isdigit():
        return int(token)
    return numbers.get(token)


def _rules(numbers: Mapping[str, int]) -> list[Rule]:
    word_num = r"(\d{1,3}|" + "|".join(sorted(numbers, key=len, reverse=True)) + r")"

    def rolling_past(m: re.Match[str], today: date) -> Period | None:
        count = _num(m.group(1), numbers)
        if count is None or count < 1:
            return None
        days = _unit_days(m.group(2), count)
        return Period(today - timedelta(days=days - 1), today, days, m.group(0))

    def rolling_future(m: re.Match[str], today: date) -> Period | None:
        count = _num(m.group(1), numbers) if m.group(1) else 1
        if count is None or count < 1:
            return None
        return Period(today, today + timedelta(days=_unit_days(m.group(2), count)), None, m.group(0))

    def one_unit_past(m: re.Match[str], today: date) -> Period:
        days = _unit_days(m.group(1), 1)
        return Period(today - timedelta(days=days - 1), today, days, m.group(0))

    def calendar(m: re.Match[str], today: date) -> Period | None:
        which, unit = m.group(1), m.group(2).rstrip("s")
        monday = today - timedelta(days=today.weekday())
        if unit == "week":
            start = {"last": monday - timedelta(days=7), "previous": monday - timedelta(days=7), "this": monday,
                     "current": monday, "next": monday + timedelta(days=7)}[which]
            return Period(start, start + timedelta(days=6), None, m.group(0), calendar=True)
        if unit == "month":
            first = _month_start(today)
            if which in ("last", "previous"):
                first = _month_start(first - timedelta(days=1))
            elif which == "next":
                first = _month_end(today) + timedelta(days=1)
            return Period(first, _month_end(first), None, m.group(0), calendar=True)
        if unit == "year":
            return Period(date(today.year, 1, 1), today, None, m.group(0))
        return None

    def between(m: re.Match[str], today: date) -> Period | None:
        a, b = _explicit(m.group(1), today), _explicit(m.group(1 + _DATE_GROUPS), today)
        if a is None or b is None:
            return None
        return Period(min(a, b), max(a, b), None, m.group(0))

    def since(m: re.Match[str], today: date) -> Period | None:
        what = m.group(1)
        start = (_weekday_before(today, what, strictly=True) if what in WEEKDAYS else _explicit(what, today))
        if start is None or start > today:
            return None
        return Period(start, today, None, m.group(0))

    def until(m: re.Match[str], today: date) -> Period | None:
        what = m.group(1)
        end = _weekday_after(today, what) if what in WEEKDAYS else _explicit(what, today)
        if end is None or end < today:
            return None
        return Period(today, end, None, m.group(0))

    def single(m: re.Match[str], today: date) -> Period | None:
        day = _explicit(m.group(1), today)
        return Period(day, day, None, m.group(0)) if day else None

    def day_of_month(m: re.Match[str], today: date) -> Period | None:
        day = int(m.group(1))
        if not 1 <= day <= 31:
            return None
        year, month = (today.year, today.month) if day >= today.day else (
            today.year + today.month // 12, today.month % 12 + 1)
        try:
            found = date(year, month, day)
        except ValueError:
            return None
        return Period(found, found, None, m.group(0))

    weekday = r"(" + "|".join(WEEKDAYS) + r")"
    past_word = r"(?:last|past|previous|prior|preceding)"
    return [
        (r"\b(?:between|from)\s+" + _DATE + r"\s+(?:and|to|until|through|-)\s+" + _DATE, between),
        (r"\b(?:in\s+|over\s+|during\s+|for\s+|of\s+)?(?:the\s+)?" + past_word + r"\s+" + word_num
         + r"\s+(?:of\s+)?" + _UNIT + r"\b", rolling_past),
        # 'over the same two weeks', 'for those 10 days': a span already looked back over.
        (r"\b(?:in|over|during|for|across)\s+(?:the|those|these)\s+(?:same\s+)?" + word_num + r"\s+(days|weeks)\b",
         rolling_past),
        (r"\b(?:in\s+|over\s+|during\s+|within\s+|for\s+)?(?:the\s+)?(?:next|coming|upcoming|following)\s+"
         + word_num + r"?\s*(?:of\s+)?" + r"(days|weeks|fortnight|fortnights)\b", rolling_future),
        (r"\bwithin\s+(?:the\s+next\s+)?" + word_num + r"\s+" + _UNIT + r"\b", rolling_future),
        (r"\bin\s+" + word_num + r"\s+(days|weeks)\b", rolling_future),
        # 'look out 8 weeks', 'go out 30 days': a planner's horizon, ahead of today.
        (r"\b(?:look|looking|go|going|plan|planning|see)\s+(?:out|ahead|forward)\s+" + word_num + r"\s+"
         + r"(days|weeks|months)\b", rolling_future),
        (r"\b(?:in\s+|over\s+|during\s+)?the\s+(?:last|past)\s+(day|week|fortnight|month)\b", one_unit_past),
        (r"\b(?:in\s+|over\s+|during\s+)?(?:the\s+)?past\s+(day|week|fortnight|month)\b", one_unit_past),
        (r"\b(?:so\s+far\s+)?(last|previous|this|current|next)\s+(week|month|year)\b", calendar),
        (r"\b(?:year\s+to\s+date|ytd)\b", lambda m, t: Period(date(t.year, 1, 1), t, None, m.group(0))),
        (r"\bsince\s+(?:last\s+)?(" + "|".join(WEEKDAYS) + r"|" + _DATE[1:], since),
        (r"\b(?:by|before|until|till|through)\s+(?:next\s+)?(" + "|".join(WEEKDAYS) + r"|" + _DATE[1:], until),
        (r"\b(?:so\s+far\s+)?today\b", lambda m, t: Period(t, t, None, m.group(0))),
        (r"\byesterday\b", lambda m, t: Period(t - timedelta(days=1), t - timedelta(days=1), None, m.group(0))),
        (r"\btomorrow\b", lambda m, t: Period(t + timedelta(days=1), t + timedelta(days=1), None, m.group(0))),
        (r"\b(?:on\s+)?" + _DATE, single),
        # 'pull it in to the 24th': that day of this month, or of the next once it has passed
        (r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b(?!\s+(?:one|ones|line|lines|lot|lots|item|items|row|rows|po|"
         r"pos|order|orders|supplier|entry|record|shift|week|month|time|of\s+(?:them|those|these)))", day_of_month),
        (r"\bnext\s+" + weekday + r"\b", lambda m, t: Period(t, _weekday_after(t, m.group(1)), None, m.group(0))),
    ]


def find_period(text: str, today: date, numbers: Mapping[str, int]) -> tuple[Period | None, tuple[int, int] | None]:
    """The first period named in folded ``text`` and its span (``None`` when there is none)."""
    best: tuple[int, Period, tuple[int, int]] | None = None
    for pattern, build in _rules(numbers):
        for match in re.finditer(pattern, text):
            period = build(match, today)
            if period is None:
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), period, match.span())
            break
    if best is None:
        return None, None
    return best[1], best[2]


def past_args(period: Period | None, today: date) -> dict[str, object]:
    """``days`` / ``start`` / ``end`` arguments of a look-back tool for ``period`` (empty: the tool's default)."""
    if period is None:
        return {}
    if period.rolling_days is not None and period.end == today:
        return {"days": period.rolling_days}
    start = min(period.start, today)
    out: dict[str, object] = {"start": start.isoformat()}
    if period.end < today:
        out["end"] = period.end.isoformat()
    return out


def future_days(period: Period | None, today: date) -> int | None:
    """Days ahead from today to the period's end (at least 1), for look-ahead tools; ``None`` without a period."""
    if period is None or period.rolling_days is not None or period.end < today or (
            period.start < today and period.end == today):
        return None  # a look-back period says nothing about how far ahead to look
    return max(1, (period.end - today).days)


_EARLIER = re.compile(r"\b(?:the\s+)?(?:(day|week|month|fortnight|period|one|time)\s+before(?!\s+(?:last|that\s+one))"
                      r"|(?:period|days?|weeks?|months?)\s+(?:just\s+)?(?:before|prior\s+to)\s+(?:that|it|this)"
                      r"|before\s+that|prior\s+(?:week|period|month))\b")
"""'the week before', 'and before that', 'the period prior to that': the span just before the earlier one."""


def earlier_period(text: str, previous: Period | None) -> Period | None:
    """The span of ``previous``'s length that ends the day before it starts, when folded ``text`` asks for it
    ('and the week before?' after last week: the week before last); ``None`` otherwise."""
    if previous is None or not _EARLIER.search(text):
        return None
    if previous.calendar and previous.start.day == 1 and previous.days >= 28:  # a calendar month: the one before
        end = previous.start - timedelta(days=1)
        return Period(_month_start(end), end, None, "the month before", calendar=True)
    end = previous.start - timedelta(days=1)
    return Period(end - timedelta(days=previous.days - 1), end, None, "the period before", calendar=previous.calendar)


_WEEKDAY = re.compile(r"\b(?:on\s+)?(" + "|".join(WEEKDAYS) + r")\b")


_BARE = re.compile(r"\b(\d{1,3}|a|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fourteen|thirty)\s+"
                   r"(days?|weeks?|months?)\b")
_BARE_NUMBER = re.compile(r"^\W*(?:what about|how about|and|or|make it|say|try)?\s*(\d{1,3})()\s*\W*$")
"""A number alone ('what about 14?'): as many days as the previous period's unit, in its direction."""
_BARE_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14, "thirty": 30}


def bare_span(text: str, previous: Period | None, today: date) -> Period | None:
    """A span or a weekday said without a direction ('make it 2 weeks', 'and on Friday?'), in the direction of
    ``previous``: ahead when it reached past today, else back from today; ``None`` without such words or a
    previous period."""
    match = _BARE.search(text) or _BARE_NUMBER.match(text)
    weekday = _WEEKDAY.search(text)
    if previous is not None and match is None and weekday is not None:
        # 'and on Friday?': the Friday before today after a look back, the next one after a look ahead
        day = (_weekday_after(today, weekday.group(1)) if previous.end > today
               else _weekday_before(today, weekday.group(1), strictly=True))
        return Period(day, day, None, weekday.group(0))
    if previous is None or match is None:
        return None
    count = _BARE_NUMBERS.get(match.group(1)) or (int(match.group(1)) if match.group(1).isdigit() else 0)
    if count < 1:
        return None
    days = _unit_days(match.group(2), count) if match.group(2) else count
    if previous.end > today:
        return Period(today, today + timedelta(days=days), None, match.group(0))
    return Period(today - timedelta(days=days - 1), today, days, match.group(0))
