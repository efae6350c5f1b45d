"""Half-years, the evaluation's period (domain.md §1): H1 = 01-01..06-30, H2 = 07-01..12-31."""

from __future__ import annotations

import re
from datetime import date

PERIOD_PATTERN = r"^(\d{4})H([12])$"  # 2026H1, 2026H2; also the API's period parameters
PERIOD_RE = re.compile(PERIOD_PATTERN)


def half_year(day: date) -> tuple[str, date, date]:
    """The period code and first and last day of the half-year containing ``day``."""
    if day.month <= 6:
        return f"{day.year}H1", date(day.year, 1, 1), date(day.year, 6, 30)
    return f"{day.year}H2", date(day.year, 7, 1), date(day.year, 12, 31)


def period_label(period: str) -> str:
    """The period as a paper writes it: ``2026H2`` → 2026年下半年, ``2026`` → 2026年度."""
    match = PERIOD_RE.match(period)
    if match is not None:
        return f"{match.group(1)}年{'上' if match.group(2) == '1' else '下'}半年"
    if len(period) == 4 and period.isdigit():
        return f"{period}年度"
    raise ValueError(period)


def chinese_date(day: date) -> str:
    """A date as an official paper writes it, without leading zeros: 2026年12月1日."""
    return f"{day.year}年{day.month}月{day.day}日"
