"""Period codes (``2026H1``, ``2026H2``) and years, with their bounds in local time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scoring.exceptions import InvalidPeriod
from surveys.core.periods import PERIOD_RE

YEAR_RE = re.compile(r"^\d{4}$")


def check_period(period: str) -> str:
    """The period code itself, or :class:`InvalidPeriod`."""
    if not PERIOD_RE.match(period):
        raise InvalidPeriod(value=period)
    return period


def halves(year: str | int) -> tuple[str, str]:
    """The two period codes of a year."""
    text = str(year)
    if not YEAR_RE.match(text):
        raise InvalidPeriod(value=text)
    return f"{text}H1", f"{text}H2"


def recent(period: str, count: int) -> list[str]:
    """``count`` half-years ending with ``period``, oldest first."""
    match = PERIOD_RE.match(check_period(period))
    assert match is not None
    year, half = int(match.group(1)), int(match.group(2))
    found = []
    for _ in range(count):
        found.append(f"{year}H{half}")
        year, half = (year, 1) if half == 2 else (year - 1, 2)
    return found[::-1]


def days(period: str) -> tuple[date, date]:
    """First and last day of a half-year (H1 = 01-01..06-30, H2 = 07-01..12-31)."""
    match = PERIOD_RE.match(period)
    if match is None:
        raise InvalidPeriod(value=period)
    year = int(match.group(1))
    if match.group(2) == "1":
        return date(year, 1, 1), date(year, 6, 30)
    return date(year, 7, 1), date(year, 12, 31)


def utc_bounds(period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the half-year in ``tz``, as UTC instants."""
    first, last = days(period)
    start = datetime.combine(first, time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)
